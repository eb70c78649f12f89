from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.api.auth import authenticate
from shared.config import Settings
from shared.errors import ConfigError
from shared.http import HttpRequest
from shared.security.tokens import api_tokens_entry, match_token, new_token, parse_api_tokens, token_digest
from tests.unit.security.conftest import ALICE, Api, body_of


def test_plain_and_hashed_entries_both_map_to_their_tenant() -> None:
    table = parse_api_tokens(f"alice:{ALICE}, bob:sha256:{token_digest('bob-secret')}")
    assert match_token(ALICE, table) == "alice"
    assert match_token("bob-secret", table) == "bob"
    assert match_token("sha256:" + token_digest("bob-secret"), table) is None  # the digest is not a token
    assert match_token("nobody", table) is None
    assert ALICE not in table and "bob-secret" not in table  # only digests are kept


@pytest.mark.parametrize(
    "raw",
    ["no-colon", "alice:", ":token", "al ice:tok", "alice:sha256:abc", "a:x,b:x", "tenant/evil:x"],
)
def test_malformed_api_tokens_name_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="API_TOKENS"):
        Settings.from_env({"API_TOKENS": raw})


def test_new_tokens_are_random_and_their_entry_authenticates() -> None:
    first, second = new_token(), new_token()
    assert first != second and first.startswith("tts_") and len(first) > 40
    table = parse_api_tokens(api_tokens_entry("carol", first))
    assert match_token(first, table) == "carol"
    assert first not in api_tokens_entry("carol", first)


def test_token_new_command_prints_a_token_and_a_hashed_entry() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tts_pipeline", "token", "new", "dave", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    made = json.loads(out)
    assert made["apiTokensEntry"].startswith("dave:sha256:")
    assert made["token"] not in made["apiTokensEntry"]
    settings = Settings.from_env({"API_TOKENS": made["apiTokensEntry"]})
    request = HttpRequest.build("GET", "/v1/jobs", headers={"Authorization": f"Bearer {made['token']}"})
    assert authenticate(request, settings) == "dave"


def test_token_hash_command_reads_the_token_from_stdin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tts_pipeline", "token", "hash", "erin"],
        input="erin-token\n", capture_output=True, text=True, check=True,
    ).stdout
    assert f"erin:sha256:{token_digest('erin-token')}" in out


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ALICE}x"},
        {"Authorization": f"Token {ALICE}"},
        {"Authorization": "Bearer " + "x" * 10_000},
        {"Authorization": "Bearer sha256:" + token_digest(ALICE)},
    ],
)
async def test_every_bad_or_missing_token_gets_the_same_401(api: Api, headers: dict[str, str]) -> None:
    reference = await api.call("GET", "/v1/jobs", token=None)
    reply = await api.call("GET", "/v1/jobs", token=None, headers=headers)
    assert reply.status == reference.status == 401
    assert reply.body == reference.body
    assert reply.headers.items() == reference.headers.items()
    assert reply.headers.get("www-authenticate") == 'Bearer realm="tts"'
    assert body_of(reply)["error"]["code"] == "unauthorized"


async def test_401_comes_before_any_body_parsing(api: Api) -> None:
    reply = await api.call("POST", "/v1/jobs", body=b"{not json", token="wrong", headers={"Content-Type": "x/y"})
    assert reply.status == 401
    assert api.jobs() == [] and api.queue.sent == []


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    reply = await api.call("GET", "/v1/jobs", token=None, headers={"Authorization": f"bearer {ALICE}"})
    assert reply.status == 200
