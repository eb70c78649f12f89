from __future__ import annotations

from pathlib import Path

import pytest

from local_runtime.runtime import LocalRuntime
from shared.api.links import is_loopback_host
from shared.config import Settings, parse_api_tokens
from shared.errors import ConfigError


def test_runtime_refuses_non_loopback_without_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="API_TOKENS"):
        LocalRuntime(tmp_path, {}, host="0.0.0.0")


def test_runtime_allows_anonymous_only_on_loopback(tmp_path: Path) -> None:
    assert LocalRuntime(tmp_path, {}, host="127.0.0.1").settings.allow_anonymous
    assert not LocalRuntime(
        tmp_path / "b", {"API_TOKENS": "t:x", "PUBLIC_BASE_URL": "https://tts.example.com"}, host="0.0.0.0"
    ).settings.allow_anonymous


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
                                           ("0.0.0.0", False), ("10.0.0.1", False), ("example.org", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_settings_errors_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="SHARD_COUNT"):
        Settings.from_env({"SHARD_COUNT": "many"})
    with pytest.raises(ConfigError, match="REAPER_DRY_RUN"):
        Settings.from_env({"REAPER_DRY_RUN": "maybe"})
    with pytest.raises(ConfigError, match="API_TOKENS"):
        parse_api_tokens("no-colon")


def test_settings_defaults() -> None:
    s = Settings.from_env({})
    assert (s.shard_count, s.job_ttl_seconds, s.max_text_chars) == (4, 86_400, 100_000)
