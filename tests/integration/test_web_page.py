"""The web page at ``/`` (``shared/web/``), on both runtimes: its files under a strict CSP, and used in headless Chromium.

In the browser: ask for the token, submit text, watch the job finish, play
the audio (the <audio> element loads with a non-zero duration), download
it, see it in the recent jobs, delete it. At a desktop's 1280x800 and a
phone's 390x844: after Speak the job is in view; a long job plays while it is
made, with Pause and Stop, and the finished file takes over at the same
position, so exactly one source plays; nothing is wider than the screen;
sizes, durations and characters read as people write them.

A loopback fake of OpenAI's speech API (``OPENAI_BASE_URL``) makes the long
job: each request answers ``CHUNK_SECONDS`` of a tone, and one whose text has
"zzz" in it waits until the test releases it, so the job stays
``processing`` with its first part streaming for as long as the test needs.
"""

from __future__ import annotations

import json
import math
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.audio.wav import wav_bytes
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving
from tests.integration.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.slow

TOKEN = "dana-token"
SIGNING_KEY = "k" * 40
CHUNK_SECONDS = 10
RATE = 24000
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# A text openai/tts-1 takes in two requests (4,096 characters each): the second holds "zzz".
LONG_TEXT = " ".join(f"Sentence {i} of a long story, told slowly enough to need two requests." for i in range(79))
LONG_TEXT += " The last one waits upstream, zzz."


class Upstream(FakeProvider):
    """OpenAI's ``POST /v1/audio/speech``: CHUNK_SECONDS of a 440 Hz tone; "zzz" waits for ``release``."""

    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        if "zzz" in body["input"]:
            self.release.wait(60)
        frames = CHUNK_SECONDS * RATE
        pcm = struct.pack(f"<{frames}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(frames)))
        audio = pcm if body.get("response_format") == "pcm" else wav_bytes(pcm, RATE)
        self.reply(200, audio, "audio/pcm" if body.get("response_format") == "pcm" else "audio/wav")


@pytest.fixture(scope="module")
def upstream(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    Upstream.release.set()
    with serving(Upstream) as url:
        yield url
    Upstream.release.set()


@pytest.fixture(scope="module", params=["bearer-audio", "signed-audio"])
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, runtime: str, upstream: str
) -> Iterator[Pipeline]:
    # With SIGNING_KEY the server may hand out signed audioUrls, which the page
    # plays directly; without, it fetches the audio with the token into a Blob.
    env = {"API_TOKENS": f"dana:{TOKEN}", "OPENAI_API_KEY": "sk-upstream", "OPENAI_BASE_URL": upstream,
           # Only here: the bucket of the delivery test is a plain-http receiver on 127.0.0.1.
           "WEBHOOK_ALLOWED_SCHEMES": "https,http", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    if request.param == "signed-audio":
        env["SIGNING_KEY"] = SIGNING_KEY
    p = Pipeline(tmp_path_factory.mktemp("web"), env=env, runtime=runtime).start()
    yield p
    p.stop()


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, pipeline: Pipeline, browser: Any) -> Iterator[Any]:
    """A signed-in page at a desktop's or a phone's size, watching every audio source.

    ``window.__audio`` counts, every 10 ms, the sources playing at once: the
    AudioContexts running (the page's stream) plus the <audio> element when
    it plays; ``overlaps`` is how many times that was more than one.
    """
    phone = request.param == "phone"
    context = browser.new_context(
        viewport=VIEWPORTS[request.param], device_scale_factor=3 if phone else 1, is_mobile=phone
    )
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))  # type: ignore[attr-defined]
    page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
    page.add_init_script(AUDIO_WATCH)
    page.goto(f"http://127.0.0.1:{pipeline.port}/")
    page.wait_for_selector("#model option", state="attached")
    try:
        yield page
    finally:
        Upstream.release.set()
        context.close()


AUDIO_WATCH = """
(() => {
  const Real = window.AudioContext;
  const watch = { contexts: [], overlaps: 0, most: 0, firstStart: null, closedAt: null, playAt: null };
  window.__audio = watch;
  window.AudioContext = class extends Real {
    constructor(...args) { super(...args); watch.contexts.push(this); }
    close() { watch.closedAt = this.currentTime; return super.close(); }
  };
  // Where the stream is: its context's clock less the start of its first sound.
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when, ...rest) {
    if (watch.firstStart === null) watch.firstStart = when;
    return start.call(this, when, ...rest);
  };
  watch.streamed = () => {
    const c = watch.contexts.find((c) => c.state === "running");
    return c && watch.firstStart !== null ? c.currentTime - watch.firstStart : 0;
  };
  document.addEventListener("play", (event) => { watch.playAt = event.target.currentTime; }, true);
  setInterval(() => {
    const player = document.getElementById("player");
    const running = watch.contexts.filter((c) => c.state === "running").length;
    const playing = running + (player && !player.paused && !player.ended ? 1 : 0);
    watch.most = Math.max(watch.most, playing);
    if (playing > 1) watch.overlaps += 1;
  }, 10);
})();
"""


def running_contexts(page: Any) -> int:
    return int(page.evaluate("window.__audio.contexts.filter((c) => c.state === 'running').length"))


def test_page_is_served_without_a_token_under_a_strict_csp(pipeline: Pipeline) -> None:
    reply = pipeline.request("GET", "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    html = reply.body.decode()
    csp = reply.headers["content-security-policy"]
    # Only the page's own files may run or style it; it talks only to its own origin.
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and "<style" not in html  # nothing inline
    assert not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)  # CSP would block them
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        assert f'"{path}"' in html
        part = pipeline.request("GET", path)
        assert part.status == 200 and part.headers["content-type"].startswith(kind), path
        assert part.headers["x-content-type-options"] == "nosniff"
    assert pipeline.request("GET", "/_headers").status == 404  # the rules are not served
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
        # (tone times every format it makes; "ogg" stands for one it could not)
        page.evaluate("document.getElementById('format').add(new Option('ogg', 'ogg', true, true))")
        page.dispatch_event("#format", "change")
        assert page.is_disabled("#timestamps") and not page.is_checked("#timestamps")
        assert problems == []
    finally:
        context.close()


def test_several_inputs_from_the_page_make_chapters_with_their_own_files(pipeline: Pipeline, browser: Any) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.wait_for_selector("#model option", state="attached")
        page.get_by_label("Model").select_option("tone")
        page.get_by_label("Several inputs").check()
        assert page.is_disabled("#ssml")  # inputs are plain text
        page.get_by_label("Voice", exact=True).select_option("low")
        page.get_by_label("Second speaker").select_option("high")
        page.get_by_label("Silence between inputs (ms)").fill("300")
        page.get_by_label("Text").fill("# Opening\nHello, Bob.\n\nHello, Alice.\n\nGoodbye.")
        page.get_by_role("button", name="Speak").click()
        page.wait_for_selector("#job-status.completed", timeout=60_000)
        job_id = page.inner_text("#job-id")
        page.wait_for_selector("#chapters li")
        assert page.locator("#chapters li").count() == 3
        assert page.locator("#chapters li button").first.inner_text().startswith("Opening (")
        job = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()
        assert job["inputCount"] == 3 and job["gapMs"] == 300
        chapters = pipeline.request("GET", f"/v1/jobs/{job_id}/timestamps", token=TOKEN).json()["chapters"]
        assert [c["title"] for c in chapters] == ["Opening", "Input 2", "Input 3"]

        # WHEN a chapter is clicked THEN the player goes to its start
        page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
        page.locator("#chapters li button").nth(2).click()
        assert abs(page.evaluate("document.getElementById('player').currentTime") - chapters[2]["start"]) < 0.1
        # AND an input downloads as a file of its own
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download Input 2 on its own").click()
        download = download_info.value
        assert download.suggested_filename == f"{job_id}-input1.wav"
        with open(download.path(), "rb") as handle:
            assert handle.read() == pipeline.request("GET", f"/v1/jobs/{job_id}/audio?input=1", token=TOKEN).body
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


def test_deliver_to_a_bucket_from_the_page(pipeline: Pipeline, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    with receiving(Receiver()) as bucket:
        try:
            page.add_init_script(f"localStorage.setItem('tts.token', {TOKEN!r})")
            page.goto(f"http://127.0.0.1:{pipeline.port}/")
            page.wait_for_selector("#model option", state="attached")
            page.get_by_label("Model").select_option("tone")
            page.get_by_text("Deliver to your bucket").click()
            page.get_by_label("Presigned PUT URL").fill(bucket.url("/b/page.wav?sig=s3cr3t"))
            page.get_by_label("Text").fill("Into my own bucket.")
            page.get_by_role("button", name="Speak").click()
            page.wait_for_selector("#job-status.completed", timeout=60_000)
            page.wait_for_function(
                "() => document.getElementById('job-delivery').textContent.includes('delivered after 1 attempt')",
                timeout=30_000,
            )
            assert page.input_value("#deliver-url") == ""  # a secret: not left to be sent twice
            job_id = page.inner_text("#job-id")
            audio = pipeline.request("GET", f"/v1/jobs/{job_id}/audio", token=TOKEN)
            [put] = bucket.at("/b/page.wav?sig=s3cr3t")
            assert put.method == "PUT" and put.body == audio.body
            assert "s3cr3t" not in page.content()
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
        page.evaluate("document.getElementById('format').add(new Option('ogg', 'ogg', true, true))")  # a format no model makes
        page.get_by_role("button", name="Speak").click()
        page.wait_for_function("() => document.getElementById('error').textContent.length > 0")
        assert "format" in page.locator("#error").inner_text()
    finally:
        context.close()


WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getClientRects().length && !e.closest(".visually-hidden"))
  .filter((e) => { const r = e.getBoundingClientRect(); return r.left < -0.5 || r.right > window.innerWidth + 0.5; })
  .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`)"""


def test_nothing_is_wider_than_the_screen_and_the_default_model_and_its_limits_are_used(
    pipeline: Pipeline, page: Any
) -> None:
    # GIVEN more jobs than one page of recent jobs (one long-named model among them)
    for i in range(11):
        pipeline.submit(f"job {i}", token=TOKEN, model="tone")
    pipeline.submit("a cloud voice", token=TOKEN, model="openai/tts-1", format="wav")
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    page.wait_for_function("() => document.querySelectorAll('#jobs tbody tr').length === 10")
    width = page.viewport_size["width"]
    # THEN nothing scrolls sideways, no element reaches past the screen's edge, and every Delete is in view
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= width and widths[0] <= widths[1], widths
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == []
    for button in page.get_by_role("button", name=re.compile("^Delete")).all():
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
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
    # AND older jobs are a click away, still within the screen
    page.get_by_role("button", name="Older jobs").click()
    page.wait_for_function("() => document.querySelectorAll('#jobs tbody tr').length > 10")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == []
    assert page.problems == []


def test_after_speak_the_job_is_in_view(page: Any) -> None:
    page.get_by_label("Model").select_option("tone")
    page.get_by_label("Text").fill("Where did my job go?")
    page.get_by_role("button", name="Speak").click()
    page.wait_for_selector("#job-status.completed", timeout=60_000)
    page.wait_for_selector("#player", state="visible", timeout=30_000)
    top, bottom, height = page.evaluate(
        "(() => { const r = document.getElementById('job-panel').getBoundingClientRect();"
        " return [r.top, r.bottom, window.innerHeight]; })()"
    )
    assert -1 <= top < height, (top, height)  # the panel starts on the screen (as high as the page's length allows)
    status = page.evaluate("(() => { const r = document.getElementById('job-status').getBoundingClientRect();"
                           " return [r.top, r.bottom]; })()")
    assert 0 <= status[0] and status[1] <= height, (status, height)  # its status is on the screen
    assert page.problems == []


def start_long_job(page: Any) -> None:
    """Speaks LONG_TEXT with openai/tts-1 in WAV; returns once its first part plays in the page."""
    Upstream.release.clear()
    page.get_by_label("Model").select_option("openai/tts-1")
    page.get_by_label("Format").select_option("wav")
    page.get_by_label("Text").fill(LONG_TEXT)
    page.get_by_role("button", name="Speak").click()
    page.wait_for_function(
        f"() => Number(document.getElementById('player').dataset.streamedFrames || 0) >= {CHUNK_SECONDS * RATE}",
        timeout=60_000,
    )
    page.wait_for_selector("#live", state="visible")
    page.wait_for_function("() => window.__audio.streamed() > 1")


def test_a_long_job_plays_while_it_is_made_then_the_file_takes_over_at_the_same_place(
    pipeline: Pipeline, page: Any
) -> None:
    # GIVEN a long job whose first part plays while the second is held upstream
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    start_long_job(page)
    job_id = page.inner_text("#job-id")
    assert pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()["status"] == "processing"
    assert page.locator("#player").is_hidden()  # no second, empty player beside the stream
    assert "made so far" in page.inner_text("#live-time")
    # WHEN it is paused and played again, THEN the stream stops and goes on
    page.get_by_role("button", name="Pause the audio").click()
    page.wait_for_function("() => window.__audio.contexts.every((c) => c.state !== 'running')")
    page.get_by_role("button", name="Play the audio while it is made").click()
    page.wait_for_function("() => window.__audio.contexts.some((c) => c.state === 'running')")
    # WHEN the rest is made
    Upstream.release.set()
    page.wait_for_selector("#job-status.completed", timeout=60_000)
    # (the page followed the job on its event stream, not by polling)
    assert any(url.endswith(f"/v1/jobs/{job_id}/events") for url in asked), asked
    assert not any("?wait=" in url for url in asked), asked
    # THEN the finished file plays on from where the stream was, and the stream is closed
    page.wait_for_function("() => window.__audio.playAt !== null", timeout=30_000)
    watch = page.evaluate("window.__audio")
    assert page.locator("#player").is_visible() and page.locator("#live").is_hidden()
    assert not page.evaluate("document.getElementById('player').paused")
    assert running_contexts(page) == 0
    streamed = watch["closedAt"] - watch["firstStart"]  # how far the stream had played when it was closed
    assert watch["playAt"] > 1 and abs(watch["playAt"] - streamed) < 0.25, watch
    # AND at no time did two sources play at once, nor does pressing play again start another
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_timeout(300)
    watch = page.evaluate("window.__audio")
    assert watch["overlaps"] == 0 and watch["most"] == 1, watch
    assert page.problems == []


def test_stop_ends_the_stream_and_the_finished_file_waits_to_be_played(pipeline: Pipeline, page: Any) -> None:
    start_long_job(page)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function("() => window.__audio.contexts.every((c) => c.state === 'closed')")
    assert page.is_disabled("#live-stop") and page.inner_text("#live-toggle") == "Play"
    assert "Stopped" in page.inner_text("#message")
    Upstream.release.set()
    page.wait_for_selector("#job-status.completed", timeout=60_000)
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    page.wait_for_timeout(300)
    assert page.locator("#live").is_hidden() and page.locator("#player").is_visible()
    assert page.evaluate("document.getElementById('player').paused")  # nothing plays until asked
    assert running_contexts(page) == 0 and page.evaluate("window.__audio.overlaps") == 0
    assert page.problems == []


def test_numbers_read_as_people_write_them(pipeline: Pipeline, page: Any) -> None:
    # Sizes, durations and what a job is doing, from the page's own helpers (app.js exports them).
    helpers = page.evaluate("""async () => {
      const m = await import("/app.js");
      const job = (fields) => Object.assign({ jobId: "j", model: "tone", voiceId: "default", format: "wav",
        characters: 0 }, fields);
      return {
        bytes: [0, 1, 1023, 1024, 10137, 169000000, 5 * 1024 ** 3].map(m.formatBytes),
        durations: [0, 7.94, 42.5, 245, 3845].map(m.formatDuration),
        queued: m.describeJob(job({ status: "queued" })),
        running: m.describeJob(job({ status: "processing", progress: { done: 27, total: 28 }, characters: 54000 })),
        assembling: m.describeJob(job({ status: "processing", progress: { done: 28, total: 28 }, characters: 62068 })),
        done: m.describeJob(job({ status: "completed", characters: 62068, sizeBytes: 169000000 }), { duration: 3845 }),
        inputs: m.describeJob(job({ status: "processing", inputCount: 3,
          progress: { done: 2, total: 4, inputsDone: 1, inputsTotal: 3 } })),
        reused: m.describeJob(job({ status: "completed", cache: { hit: true, chunksReused: 1, chunksTotal: 1 } })),
        partly: m.describeJob(job({ status: "completed", characters: 3067,
          cache: { hit: false, chunksReused: 9, chunksTotal: 10 } })),
        paragraphs: m.paragraphInputs("# Intro\\nHello.\\n\\n  Hi!  \\n\\n\\nBye.", ["low", "high"]),
      };
    }""")
    assert helpers["bytes"] == ["0 bytes", "1 byte", "1023 bytes", "1.0 KiB", "9.9 KiB", "161 MiB", "5.0 GiB"]
    assert helpers["durations"] == ["0.0 s", "7.9 s", "42 s", "4:05", "1:04:05"]
    assert "waiting for a worker" in helpers["queued"] and "characters" not in helpers["queued"]
    assert "96% (part 27 of 28)" in helpers["running"] and "54,000 characters sent" in helpers["running"]
    assert "all 28 parts made; assembling the audio file" in helpers["assembling"]
    assert helpers["done"] == "tone · default · wav — 62,068 characters sent — 1:04:05 — 161 MiB"
    assert helpers["inputs"] == "tone · default · wav — 3 inputs — 50% (part 2 of 4, input 1 of 3 done)"
    assert helpers["reused"] == "tone · default · wav — audio reused from the cache, no provider call"
    assert helpers["partly"].endswith("3,067 characters sent — 9 of 10 parts reused from the cache")
    assert helpers["paragraphs"] == [
        {"text": "Hello.", "title": "Intro", "voiceId": "low"}, {"text": "Hi!", "voiceId": "high"},
        {"text": "Bye.", "voiceId": "low"},
    ]
    # AND a finished job in the page says so, with the characters explained
    page.get_by_label("Model").select_option("tone")
    page.get_by_label("Text").fill("Count me.")
    page.get_by_label("Reuse audio made before").uncheck()
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/jobs")) as submitted:
        page.get_by_role("button", name="Speak").click()
    assert json.loads(submitted.value.post_data or "{}")["cache"] is False
    page.wait_for_selector("#job-status.completed", timeout=60_000)
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    page.wait_for_function("() => / s — /.test(document.getElementById('job-detail').textContent)")
    detail = page.inner_text("#job-detail")
    assert "9 characters sent — 0.5 s — " in detail and re.search(r"\d+(\.\d)? KiB$", detail), detail
    assert page.locator("#characters-note").is_visible() and "pricing" in page.inner_text("#characters-note")
    assert re.search(r"Download WAV \(\d+(\.\d)? KiB\)", page.inner_text("#download"))
    assert page.problems == []
