"""The settings table in shared/config.py is the one place a setting is declared.

From it come ``from_env``, ``SETTING_NAMES`` and the README's tables; no
module of the pipeline reads an environment variable the table does not
declare.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from shared.config import LOCAL_SETTING_NAMES, SETTING_NAMES, LocalSettings, Settings, specs
from shared.errors import ConfigError
from tooling import settings_doc

ROOT = Path(__file__).resolve().parents[2]
# Reads of a mapping named env / environ with a literal upper-case name.
READ = re.compile(r"\b(?:env|environ|_env)(?:\.get\(|\[)\s*[\"']([A-Z][A-Z0-9_]+)[\"']")
# Variables of the tooling's own subprocesses (wrangler, node), not settings of the pipeline.
TOOL_VARIABLES = {"PATH", "TTS_WRANGLER_NODE", "TTS_WRANGLER_JS", "TTS_WRANGLER_CONFIGS",
                  "MINIFLARE_WORKERD_PATH", "WRANGLER_SEND_METRICS", "CLOUDFLARE_CF_FETCH_ENABLED"}


def test_the_readme_tables_are_made_from_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_doc.render(readme) == readme, "run: python -m tooling.settings_doc"


def test_every_field_is_a_setting_with_its_default_from_env() -> None:
    for cls in (Settings, LocalSettings):
        assert len(specs(cls)) == len(dataclasses.fields(cls))
        assert cls.from_env({}) == cls()


def test_names_are_listed_once_and_documented() -> None:
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES))
    assert not set(SETTING_NAMES) & set(LOCAL_SETTING_NAMES)
    documented = {spec.env for cls in (Settings, LocalSettings) for _, spec in specs(cls) if spec.doc}
    assert documented == set(SETTING_NAMES) | set(LOCAL_SETTING_NAMES)


def test_secrets_stay_out_of_repr() -> None:
    shown = repr(Settings.from_env({"API_TOKENS": "a:" + "t" * 20, "SIGNING_KEY": "k" * 40, "OPENAI_API_KEY": "sk-x"}))
    assert "tttt" not in shown and "kkkk" not in shown and "sk-x" not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be >= 1"),
        ({"WEBHOOK_MAX_ATTEMPTS": "21"}, "WEBHOOK_MAX_ATTEMPTS must be <= 20"),
        ({"QUEUE_VISIBILITY_TIMEOUT": "-1"}, "QUEUE_VISIBILITY_TIMEOUT must be positive"),
        ({"HTTP_MAX_CONNECTIONS": "many"}, "HTTP_MAX_CONNECTIONS must be an integer"),
        ({"CRON_INTERVAL_SECONDS": "soon"}, "CRON_INTERVAL_SECONDS must be a number"),
    ],
)
def test_a_bad_value_names_its_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
        LocalSettings.from_env(env)


def test_no_module_reads_a_variable_the_table_does_not_declare() -> None:
    declared = set(SETTING_NAMES) | set(LOCAL_SETTING_NAMES) | TOOL_VARIABLES
    found: dict[str, list[str]] = {}
    for package in ("shared", "cloudflare_adapters", "local_runtime", "tooling", "tts_pipeline", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            if "python_modules" in path.parts:
                continue
            for name in READ.findall(path.read_text()):
                if name not in declared:
                    found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert found == {}
    assert READ.findall('settings = env.get("SHARD_COUNT")') == ["SHARD_COUNT"]  # the pattern still matches
