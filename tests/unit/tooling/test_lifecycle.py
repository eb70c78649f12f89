"""``tts-pipeline r2 lifecycle``: the rule, dry runs, wrangler and the REST API."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tts_pipeline.cli import main
from tooling.lifecycle import DAY, RULE_ID, check_rules, desired_rules, retention_days

MAX_TTL = 30 * DAY


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_TTL_SECONDS", str(MAX_TTL))
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc123")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token")


def test_retention_covers_the_longest_ttl_with_a_day_to_spare() -> None:
    assert retention_days(MAX_TTL) == 31
    assert retention_days(DAY + 1) == 3


def test_the_desired_rule_passes_its_own_check() -> None:
    assert check_rules(desired_rules(31, 1)["rules"], days=31, max_ttl_seconds=MAX_TTL) == []


def test_check_finds_a_missing_rule_and_one_that_would_delete_live_audio() -> None:
    assert check_rules([], days=31, max_ttl_seconds=MAX_TTL) == [
        "no enabled rule expires objects under 'audio/'",
        "no enabled rule aborts incomplete multipart uploads under 'audio/'",
        "no enabled rule expires partial audio under 'tmp/' within 2 days",
        "no enabled rule expires synthesis cache entries under 'cache/' within 32 days",
    ]
    short = desired_rules(31, 1)["rules"] + [
        {"id": "cleanup", "enabled": True, "conditions": {"prefix": "audio/2027/"},
         "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 7 * DAY}}}
    ]
    problems = check_rules(short, days=31, max_ttl_seconds=MAX_TTL)
    assert len(problems) == 1 and "'cleanup'" in problems[0] and "live jobs' audio" in problems[0]
    disabled = [{**desired_rules(31, 1)["rules"][0], "enabled": False}, desired_rules(31, 1)["rules"][1]]
    assert "no enabled rule expires" in check_rules(disabled, days=31, max_ttl_seconds=MAX_TTL)[0]


def test_dry_run_apply_prints_the_wrangler_command_and_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["r2", "lifecycle", "apply", "--dry-run", "--wrangler", "wrangler"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    command = shlex.split(lines[-1])
    assert command[:6] == ["wrangler", "r2", "bucket", "lifecycle", "set", "tts-audio-results"]
    assert command[6] == "--file" and command[-1] == "--force"
    body = json.loads("\n".join(lines[1:-2]))
    assert body == desired_rules(31, 1) and body["rules"][0]["id"] == RULE_ID
    assert body["rules"][1]["conditions"] == {"prefix": "tmp/"}
    assert body["rules"][1]["deleteObjectsTransition"]["condition"]["maxAge"] == 2 * DAY


def test_dry_run_via_api_prints_the_request_without_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["r2", "lifecycle", "apply", "--via", "api", "--dry-run", "--days", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PUT https://api.cloudflare.com/client/v4/accounts/acc123/r2/buckets/tts-audio-results/lifecycle")
    assert "Bearer ***" in out and "secret-token" not in out
    body = json.loads(out[out.index("{"):])
    assert body["rules"][0]["deleteObjectsTransition"]["condition"]["maxAge"] == 40 * DAY


def test_apply_refuses_a_retention_shorter_than_the_longest_ttl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["r2", "lifecycle", "apply", "--dry-run", "--days", "7"]) == 2
    assert "would delete the audio of live jobs" in capsys.readouterr().err


def test_check_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"result": desired_rules(31, 1)}))
    assert main(["r2", "lifecycle", "check", "--from-file", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": []}))
    assert main(["r2", "lifecycle", "check", "--from-file", str(bad)]) == 1
    assert "NOT OK" in capsys.readouterr().out


def test_apply_and_show_run_wrangler(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    fake = tmp_path / "fake_wrangler.py"
    fake.write_text(
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "entry = {'args': args}\n"
        "if '--file' in args: entry['file'] = json.load(open(args[args.index('--file') + 1]))\n"
        f"open({str(record)!r}, 'a').write(json.dumps(entry) + '\\n')\n"
    )
    wrangler = f"{shlex.quote(sys.executable)} {shlex.quote(str(fake))}"
    assert main(["r2", "lifecycle", "apply", "--wrangler", wrangler, "--jurisdiction", "eu"]) == 0
    assert main(["r2", "lifecycle", "show", "--wrangler", wrangler]) == 0
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls[0]["args"][:5] == ["r2", "bucket", "lifecycle", "set", "tts-audio-results"]
    assert calls[0]["args"][-2:] == ["--jurisdiction", "eu"] and calls[0]["file"] == desired_rules(31, 1)
    assert calls[1]["args"] == ["r2", "bucket", "lifecycle", "list", "tts-audio-results"]


class FakeCloudflare(BaseHTTPRequestHandler):
    rules: list[dict[str, Any]] = []
    seen: list[tuple[str, str, str | None]] = []

    def _reply(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(("GET", self.path, self.headers.get("Authorization")))
        self._reply({"success": True, "result": {"rules": type(self).rules}})

    def do_PUT(self) -> None:  # noqa: N802
        self.seen.append(("PUT", self.path, self.headers.get("Authorization")))
        type(self).rules = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["rules"]
        self._reply({"success": True, "result": {}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    FakeCloudflare.rules, FakeCloudflare.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), FakeCloudflare)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/client/v4"
    server.shutdown()


def test_check_apply_check_through_the_api(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["r2", "lifecycle", "--via", "api", "--api-base", api]
    assert main([*base[:2], "check", *base[2:]]) == 1
    assert main([*base[:2], "apply", *base[2:]]) == 0
    assert main([*base[:2], "check", *base[2:]]) == 0
    assert main([*base[:2], "show", *base[2:]]) == 0
    assert json.loads(capsys.readouterr().out.split("lifecycle rule OK\n")[-1]) == desired_rules(31, 1)
    paths = {(method, path) for method, path, _ in FakeCloudflare.seen}
    assert paths == {("GET", "/client/v4/accounts/acc123/r2/buckets/tts-audio-results/lifecycle"),
                     ("PUT", "/client/v4/accounts/acc123/r2/buckets/tts-audio-results/lifecycle")}
    assert {auth for _, _, auth in FakeCloudflare.seen} == {"Bearer secret-token"}
