"""``tts-pipeline token``: make API tokens and their hashed ``API_TOKENS`` entries.

``token new TENANT`` prints a fresh token (hand it to the client once) and
the ``tenant:sha256:<hex>`` entry to put in ``API_TOKENS`` (it holds only
the token's SHA-256, so configuration never contains the token itself).
``token hash TENANT`` reads an existing token from stdin and prints its
entry, to move plain entries to the hashed form.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shared.errors import ConfigError
from shared.security.tokens import api_tokens_entry, new_token


def _print(args: argparse.Namespace, tenant: str, token: str | None, entry: str) -> None:
    if args.json:
        data: dict[str, Any] = {"tenant": tenant, "apiTokensEntry": entry}
        if token is not None:
            data["token"] = token
        print(json.dumps(data))
        return
    if token is not None:
        print("token (give it to the client; it is shown only now):")
        print(f"  {token}")
    print("API_TOKENS entry (append it, comma separated; it holds only the token's SHA-256):")
    print(f"  {entry}")


def _new(args: argparse.Namespace) -> int:
    token = new_token()
    try:
        entry = api_tokens_entry(args.tenant, token)
    except ConfigError as exc:
        print(f"tts-pipeline token new: {exc}", file=sys.stderr)
        return 2
    _print(args, args.tenant, token, entry)
    return 0


def _hash(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip()
    if not token:
        print("tts-pipeline token hash: give the token on stdin", file=sys.stderr)
        return 2
    try:
        entry = api_tokens_entry(args.tenant, token)
    except ConfigError as exc:
        print(f"tts-pipeline token hash: {exc}", file=sys.stderr)
        return 2
    _print(args, args.tenant, None, entry)
    return 0


def add_token_commands(sub: Any) -> None:
    token = sub.add_parser("token", help="make API tokens (docs/security.md)")
    actions = token.add_subparsers(dest="token_command", required=True)
    new = actions.add_parser("new", help="a new random token for TENANT and its hashed API_TOKENS entry")
    new.add_argument("tenant")
    new.add_argument("--json", action="store_true", help="one JSON object instead of text")
    new.set_defaults(func=_new)
    hashed = actions.add_parser("hash", help="the hashed API_TOKENS entry for a token read from stdin")
    hashed.add_argument("tenant")
    hashed.add_argument("--json", action="store_true", help="one JSON object instead of text")
    hashed.set_defaults(func=_hash)
