"""The TTS pipeline's runtime-neutral core (docs/architecture.md).

Imports neither ``js`` nor ``sqlite3``: it runs unchanged on Cloudflare's
Python Workers and on the local runtime.
"""
