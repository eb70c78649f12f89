"""Takes docs/img/web.png: the web page after a job has finished, in headless Chromium.

    python tools/screenshot_web.py [OUT.png]

Starts the local runtime on a free loopback port with a fresh data dir and
the first run's settings (no DEFAULT_MODEL: the runtime picks its best
model), submits a few jobs with the Python client so "Recent jobs" has rows,
then uses the page itself to speak a sentence with captions on the default
model and waits until its audio is loaded, then moves into it so a spoken
word shows highlighted. Needs tools/setup_browser.sh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.browser import chromium  # noqa: E402
from tests.integration.harness import Pipeline  # noqa: E402
from tts_client import Client  # noqa: E402

SENTENCE = "Audio lives in R2 now, so long texts no longer break the Durable Object."


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as data:
        pipeline = Pipeline(Path(data), env={"DEFAULT_MODEL": ""}).start()
        try:
            client = Client(f"http://127.0.0.1:{pipeline.port}")
            for text, model, voice in [
                ("The quick brown fox jumps over the lazy dog.", "tone", "low"),
                ("Bonjour tout le monde.", "espeak", "fr"),
                ("Hello again, this is a slightly longer paragraph of text.", "espeak", "en-gb"),
            ]:
                client.wait(client.submit(text, model=model, voice=voice).job_id, timeout=60)
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{pipeline.port}/")
                page.wait_for_selector("#model option", state="attached")
                page.get_by_label("Text").fill(SENTENCE)  # on the default model and voice
                page.get_by_label("Captions (word timings)").check()
                page.get_by_role("button", name="Speak").click()
                page.wait_for_selector("#job-status.completed", timeout=60_000)
                page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
                page.wait_for_selector("#captions span")
                page.evaluate("window.scrollTo(0, 0)")  # the whole page, from the top
                # a moment into the audio, so the spoken word shows highlighted
                page.evaluate("document.getElementById('player').currentTime = 1.2")
                page.wait_for_selector("#captions span.spoken")
                page.wait_for_selector("#jobs tbody tr:nth-child(4)")
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
        finally:
            pipeline.stop()
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "web.png")
