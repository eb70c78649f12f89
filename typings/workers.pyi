# The Workers Python SDK's names the entry modules use (Cloudflare's runtime provides the module; the
# repository's workers/ folder would shadow it for mypy).
from typing import Any

class WorkerEntrypoint:
    env: Any
    ctx: Any
    def __init__(self, ctx: Any, env: Any) -> None: ...

class DurableObject:
    env: Any
    ctx: Any
    def __init__(self, ctx: Any, env: Any) -> None: ...
