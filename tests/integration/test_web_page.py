"""The web page at ``/``: served with a strict CSP, and used end to end in headless Chromium.

In the browser: ask for the token, submit text, watch the job finish, play
the audio (the <audio> element loads with a non-zero duration), download
it, see it in the recent jobs, delete it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

TOKEN = "dana-token"


SIGNING_KEY = "k" * 40


@pytest.fixture(scope="module", params=["bearer-audio", "signed-audio"])
def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    # With SIGNING_KEY the server may hand out signed audioUrls, which the page
    # plays directly; without, it fetches the audio with the token into a Blob.
    env = {"API_TOKENS": f"dana:{TOKEN}"}
    if request.param == "signed-audio":
        env["SIGNING_KEY"] = SIGNING_KEY
    p = Pipeline(tmp_path_factory.mktemp("web"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def _inline(html: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    assert match, tag
    return match.group(1)


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_page_is_served_without_a_token_under_a_strict_csp(pipeline: Pipeline) -> None:
    reply = pipeline.request("GET", "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    html = reply.body.decode()
    csp = reply.headers["content-security-policy"]
    # Only the page's own inline script and style may run, by hash.
    assert f"script-src '{_sha256(_inline(html, 'script'))}'" in csp
    assert f"style-src '{_sha256(_inline(html, 'style'))}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    markup = re.sub(r"<(script|style)>.*?</\1>", "", html, flags=re.S)
    assert not re.search(r"\sstyle=", markup) and not re.search(r"\son[a-z]+=", markup)  # CSP would block them
    again = pipeline.request("GET", "/", headers={"If-None-Match": reply.headers["etag"]})
    assert again.status == 304 and again.body == b""
    assert pipeline.request("HEAD", "/").status == 200


def test_page_is_not_part_of_the_api_document(pipeline: Pipeline) -> None:
    assert "/" not in pipeline.request("GET", "/openapi.json").json()["paths"]


def test_submit_wait_play_download_in_the_browser(pipeline: Pipeline, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        page.goto(f"http://127.0.0.1:{pipeline.port}/")

        # GIVEN a server that wants a token: the page asks for it.
        page.get_by_label("API token").first.wait_for()
        assert page.locator("#token-panel").is_visible()
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        assert page.locator("#token-panel").is_hidden()
        problems.clear()  # Chromium logs the expected 401 of the first, tokenless listing

        # WHEN text is typed, a model and voice picked, and submitted
        page.get_by_label("Text").fill("Hello from a headless browser")
        page.get_by_label("Model").select_option("tone")
        page.get_by_label("Voice").select_option("high")
        page.get_by_role("button", name="Speak").click()

        # THEN the job completes, the audio plays, and it can be downloaded
        page.wait_for_selector("#job-status.completed", timeout=60_000)
        job_id = page.inner_text("#job-id")
        page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
        page.wait_for_function("() => document.getElementById('message').textContent.startsWith('Finished')")
        assert "Ready." not in page.inner_text("#message")  # a finished state that says so
        assert page.evaluate("document.getElementById('player').duration") > 0
        audio_url = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()["audioUrl"]
        player_src = page.get_attribute("#player", "src") or ""
        if "?" in audio_url:  # signed: played straight from the link, no token needed
            assert player_src == audio_url
        else:
            assert player_src.startswith("blob:")
        page.evaluate("document.getElementById('player').play()")  # resolves: the blob is playable

        with page.expect_download() as download_info:
            page.get_by_role("link", name=re.compile("Download")).click()
        download = download_info.value
        assert download.suggested_filename == f"{job_id}.wav"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        served = pipeline.request("GET", f"/v1/jobs/{job_id}/audio", token=TOKEN)
        assert saved.read_bytes() == served.body and served.body[:4] == b"RIFF"

        # AND it is listed among the recent jobs, from where it can be deleted
        row = page.locator(f"#jobs tbody tr[data-job-id='{job_id}']")
        row.wait_for()
        assert "high" in row.inner_text()
        # (the page asks first: dismissed, nothing is deleted; accepted, the job goes)
        page.once("dialog", lambda dialog: dialog.dismiss())
        row.get_by_role("button", name=re.compile("^Delete")).click()
        assert pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).status == 200
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name=re.compile("^Delete")).click()
        row.wait_for(state="detached")
        assert pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).status == 404

        # AND the token was kept for the next visit
        page.reload()
        page.wait_for_selector("#model option", state="attached")
        assert page.locator("#token-panel").is_hidden()
        assert problems == []
    finally:
        context.close()


def test_captions_under_the_player_follow_the_spoken_word(pipeline: Pipeline, browser: Any) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    text = "Captions follow the voice, one word at a time."
    try:
        page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.wait_for_selector("#model option", state="attached")
        page.get_by_label("Model").select_option("tone")
        assert page.is_enabled("#timestamps") and "exact" in page.inner_text("#timestamps-note")
        page.get_by_label("Text").fill(text)
        page.get_by_label("Captions (word timings)").check()
        page.get_by_role("button", name="Speak").click()
        page.wait_for_selector("#job-status.completed", timeout=60_000)
        job_id = page.inner_text("#job-id")
        page.wait_for_selector("#captions span")
        page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
        assert page.locator("#captions span").all_inner_texts() == text.split()
        stamps = pipeline.request("GET", f"/v1/jobs/{job_id}/timestamps", token=TOKEN).json()["words"]

        # WHEN the audio is at the fourth word, THEN that word is highlighted
        page.evaluate(f"document.getElementById('player').currentTime = {stamps[3]['start'] + 0.01}")
        page.wait_for_function("() => document.querySelector('#captions span.spoken') !== null")
        assert page.inner_text("#captions span.spoken") == stamps[3]["word"]
        # AND a click on a word plays from it
        page.locator("#captions span").nth(6).click()
        page.wait_for_function(f"() => document.querySelector('#captions span.spoken').textContent === {stamps[6]['word']!r}")
        assert abs(page.evaluate("document.getElementById('player').currentTime") - stamps[6]["start"]) < 0.5

        # AND the captions download as WebVTT
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download captions (WebVTT)").click()
        download = download_info.value
        assert download.suggested_filename == f"{job_id}.vtt"
        with open(download.path(), encoding="utf-8") as handle:
            assert handle.read().startswith("WEBVTT")

        # AND the choice is kept; a format the model cannot time disables it
        page.reload()
        page.wait_for_selector("#model option", state="attached")
        assert page.is_checked("#timestamps")
        page.evaluate("document.getElementById('format').add(new Option('opus', 'opus', true, true))")
        page.dispatch_event("#format", "change")
        assert page.is_disabled("#timestamps") and not page.is_checked("#timestamps")
        assert problems == []
    finally:
        context.close()


def test_ssml_and_a_lexicon_from_the_page(pipeline: Pipeline, browser: Any) -> None:
    rules = {"rules": [{"grapheme": "W3C", "alias": "World Wide Web Consortium"}]}
    put = pipeline.request("PUT", "/v1/lexicons/web-acronyms", json_body=rules, token=TOKEN)
    assert put.status in (200, 201)
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.wait_for_selector("#model option", state="attached")
        page.wait_for_selector("#lexicons option", state="attached")
        page.get_by_label("Model").select_option("tone")
        page.get_by_label("SSML").check()
        assert "spoken text" in page.inner_text("#char-count")
        page.get_by_label("Lexicons").select_option("web-acronyms")
        page.get_by_label("Text").fill('<speak>The W3C<break time="500ms"/>met.</speak>')
        page.get_by_label("Captions (word timings)").check()
        page.get_by_role("button", name="Speak").click()
        page.wait_for_selector("#job-status.completed", timeout=60_000)
        page.wait_for_selector("#captions span")
        assert page.locator("#captions span").all_inner_texts() == ["The", "W3C", "met."]
        job = pipeline.request("GET", f"/v1/jobs/{page.inner_text('#job-id')}", token=TOKEN).json()
        assert job["textType"] == "ssml" and [x["name"] for x in job["lexicons"]] == ["web-acronyms"]

        # a mistake in the markup: the server's message, with its line and column
        page.get_by_label("Text").fill("<speak>\n<break time='soon'/></speak>")
        page.get_by_role("button", name="Speak").click()
        page.wait_for_function("() => document.getElementById('error').textContent.includes('line 2')")
        page.reload()
        page.wait_for_selector("#model option", state="attached")
        assert page.is_checked("#ssml")  # the choice is kept
        assert problems == []
    finally:
        context.close()


def test_a_bad_text_shows_the_servers_message(pipeline: Pipeline, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.wait_for_selector("#model option", state="attached")
        page.get_by_label("Text").fill("   ")
        page.get_by_role("button", name="Speak").click()
        assert "Type some text" in page.locator("#error").inner_text()
        page.get_by_label("Text").fill("x" * 50)
        page.evaluate("document.getElementById('text').removeAttribute('maxlength')")
        page.evaluate("document.getElementById('format').add(new Option('flac', 'flac', true, true))")
        page.get_by_role("button", name="Speak").click()
        page.wait_for_function("() => document.getElementById('error').textContent.length > 0")
        assert "format" in page.locator("#error").inner_text()
    finally:
        context.close()


def test_on_a_phone_the_page_fits_uses_the_default_model_and_its_limits(pipeline: Pipeline, browser: Any) -> None:
    # GIVEN a 390 px wide phone screen, and more jobs than one page of recent jobs
    for i in range(12):
        pipeline.submit(f"job {i}", token=TOKEN, model="tone")
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True)
    page = context.new_page()
    try:
        page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.wait_for_selector("#model option", state="attached")
        page.wait_for_selector("#jobs tbody tr")
        # THEN nothing scrolls sideways
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= 390 and widths[0] <= widths[1], widths
        # AND the model is the server's default; the counter gives that model's limit in that format
        models = pipeline.request("GET", "/v1/models", token=TOKEN).json()
        assert page.input_value("#model") == models["defaultModel"]
        page.get_by_label("Model").select_option("tone")
        tone = next(m for m in models["models"] if m["id"] == "tone")
        for fmt in ("wav", "pcm"):
            page.get_by_label("Format").select_option(fmt)
            limit = tone["maxJobCharsByFormat"][fmt]
            assert page.get_attribute("#text", "maxlength") == str(limit)
            assert f"/ {limit:,} characters" in page.inner_text("#char-count")
        assert "20,000" not in page.inner_text("#char-count")
        # AND older jobs are a click away
        assert page.locator("#jobs tbody tr").count() == 10
        page.get_by_role("button", name="Older jobs").click()
        page.wait_for_function("() => document.querySelectorAll('#jobs tbody tr').length > 10")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
