"""The local runtime's Workers Static Assets: the web page's files before the api, with Cloudflare's headers."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from local_runtime.assets import HeadersFileError, StaticAssets, parse_headers_file, web_dir
from shared.http import HttpRequest

ROOT = Path(__file__).resolve().parents[3]


def get(assets: StaticAssets, path: str, method: str = "GET", **headers: str):  # type: ignore[no-untyped-def]
    return assets.response(HttpRequest.build(method, path, headers=headers))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><p>hi</p>")
    (tmp_path / "app.js").write_text("export const x = 1;")
    (tmp_path / "_headers").write_text(
        "# comment\n/*\n  X-Content-Type-Options: nosniff\n  Cache-Control: no-store\n"
        "/app.js\n  ! Cache-Control\n  X-Extra: one\n/:file\n  X-Extra: two\n"
    )
    (tmp_path / ".hidden").write_text("secret")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.txt").write_text("deep")
    return tmp_path


def test_root_is_index_html_with_the_default_and_the_files_headers(folder: Path) -> None:
    reply = get(StaticAssets(folder), "/")
    assert reply is not None and reply.status == 200 and reply.body == b"<!doctype html><p>hi</p>"
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert re.fullmatch(r'"[0-9a-f]{32}"', reply.headers["etag"])
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-store"  # _headers replaces Cloudflare's default
    assert "x-extra" not in reply.headers  # /:file is one segment, "/" has none


def test_rules_apply_in_order_append_and_remove(folder: Path) -> None:
    reply = get(StaticAssets(folder), "/app.js")
    assert reply is not None and reply.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "cache-control" not in reply.headers  # removed by "! Cache-Control"
    assert reply.headers["x-extra"] == "one, two"


def test_etag_revalidates_with_304(folder: Path) -> None:
    assets = StaticAssets(folder)
    etag = get(assets, "/app.js").headers["etag"]  # type: ignore[union-attr]
    again = get(assets, "/app.js", **{"If-None-Match": f'"other", W/{etag}'})
    assert again is not None and again.status == 304 and again.body == b""
    (folder / "app.js").write_text("export const x = 2;")  # an edit shows on the next load
    changed = get(assets, "/app.js", **{"If-None-Match": etag})
    assert changed is not None and changed.status == 200 and changed.headers["etag"] != etag


def test_index_html_redirects_to_root_keeping_the_query(folder: Path) -> None:
    reply = get(StaticAssets(folder), "/index.html?x=1")
    assert reply is not None and reply.status == 307 and reply.headers["location"] == "/?x=1"


def test_other_methods_on_a_file_get_405_and_everything_else_is_the_workers(folder: Path) -> None:
    assets = StaticAssets(folder)
    post = get(assets, "/", "POST")
    assert post is not None and post.status == 405
    head = get(assets, "/app.js", "HEAD")
    assert head is not None and head.status == 200 and head.body  # the server sends no body, but its length
    for path in ("/v1/jobs", "/_headers", "/.hidden", "/sub/deep.txt", "/sub", "/../index.html", "/missing.js"):
        assert get(assets, path) is None, path
    assert get(assets, "/v1/jobs", "POST") is None


def test_a_bad_headers_file_names_the_line() -> None:
    with pytest.raises(HeadersFileError, match="line 1"):
        parse_headers_file("  X-A: b\n")
    with pytest.raises(HeadersFileError, match="line 2"):
        parse_headers_file("/*\n  no colon here\n")
    with pytest.raises(HeadersFileError, match="starts with a path"):
        parse_headers_file("*.js\n  X-A: b\n")


# --- the real page ---------------------------------------------------------------------


def test_the_api_workers_assets_are_the_folder_the_local_runtime_serves() -> None:
    config = tomllib.loads((ROOT / "workers" / "api" / "wrangler.toml").read_text())
    assert (ROOT / "workers" / "api" / config["assets"]["directory"]).resolve() == web_dir().resolve()


def test_the_page_loads_only_its_own_files_under_a_strict_policy() -> None:
    assets = StaticAssets()
    page = get(assets, "/")
    assert page is not None and page.status == 200
    html = page.body.decode()
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "connect-src 'self'" in csp and "'unsafe-inline'" not in csp
    # Nothing inline that the policy would block, and every file it names is served.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and "<style" not in html
    assert not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    for ref in re.findall(r'(?:src|href)="(/[^"]*)"', html):
        served = get(assets, ref)
        assert served is not None and served.status == 200, ref
        assert served.headers["x-content-type-options"] == "nosniff"
    assert get(assets, "/app.js").headers["content-type"].startswith("text/javascript")  # type: ignore[union-attr]
