"""The page's stylesheet (served inline; see ``shared.web``)."""

CSS = """
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --fg: #1c1f24; --muted: #5d6470; --card: #ffffff; --line: #dde1e7;
  --accent: #f38020; --accent-fg: #ffffff; --ok: #1a7f37; --bad: #c62828; --busy: #7a5af8;
  --radius: 10px;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171b; --fg: #e8eaed; --muted: #a0a7b2; --card: #1e2127; --line: #333842; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
         padding: 1rem max(1rem, calc((100vw - 56rem) / 2 + 1rem)); border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 1.25rem; margin: 0; }
header h1 span { color: var(--accent); }
main { max-width: 56rem; margin: 0 auto; padding: 1rem 1rem 2rem; display: grid; gap: 1rem; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 1rem 1.25rem; }
h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
label { display: block; font-weight: 600; font-size: .9rem; margin-bottom: .25rem; }
textarea, select, input { width: 100%; font: inherit; color: inherit; background: var(--bg);
  border: 1px solid var(--line); border-radius: 8px; padding: .5rem .6rem; }
textarea { resize: vertical; min-height: 7rem; }
textarea:focus, select:focus, input:focus, button:focus-visible, a.button:focus-visible {
  outline: 3px solid color-mix(in srgb, var(--accent) 55%, transparent); outline-offset: 1px; }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; margin: .75rem 0; }
.hint { color: var(--muted); font-size: .85rem; margin: .25rem 0 0; }
#job-form .actions { margin-top: .75rem; }
.actions { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.actions.spread { justify-content: space-between; }
.actions.spread h2 { margin: 0; }
button, a.button { font: inherit; font-weight: 600; border-radius: 8px; padding: .5rem 1rem; cursor: pointer;
  border: 1px solid var(--line); background: var(--card); color: var(--fg); text-decoration: none; display: inline-block; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-fg); }
button:disabled { opacity: .6; cursor: progress; }
button.small { padding: .2rem .6rem; font-size: .85rem; font-weight: 500; }
.badge { display: inline-block; border-radius: 999px; padding: .1rem .6rem; font-size: .85rem; font-weight: 600;
  background: color-mix(in srgb, var(--muted) 18%, transparent); }
.badge.completed { color: var(--ok); background: color-mix(in srgb, var(--ok) 14%, transparent); }
.badge.failed, .badge.canceled { color: var(--bad); background: color-mix(in srgb, var(--bad) 14%, transparent); }
.badge.processing { color: var(--busy); background: color-mix(in srgb, var(--busy) 14%, transparent); }
progress { width: 100%; height: .6rem; margin: .75rem 0; accent-color: var(--accent); }
audio { width: 100%; margin: .25rem 0 .75rem; }
.check { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; margin: .5rem 0 0; }
.check input { width: auto; margin: 0; }
.check label { margin: 0; font-weight: 500; }
.check .hint { margin: 0; }
.captions { line-height: 1.9; max-height: 12rem; overflow-y: auto; margin: 0 0 .75rem; padding: .5rem .75rem;
  border: 1px solid var(--line); border-radius: 8px; background: var(--bg); overflow-wrap: anywhere; }
.captions span { cursor: pointer; border-radius: 4px; padding: .05rem .1rem; }
.captions span:hover { background: color-mix(in srgb, var(--muted) 15%, transparent); }
.captions span.spoken { background: var(--accent); color: var(--accent-fg); }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85em; }
table { width: 100%; border-collapse: collapse; font-size: .9rem; }
th, td { text-align: left; padding: .45rem .4rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; }
tr.current td { background: color-mix(in srgb, var(--accent) 8%, transparent); }
.scroll { overflow-x: auto; }
#error { color: var(--bad); font-weight: 600; margin: 0; }
#error:empty, #message:empty { display: none; }
#message { margin: 0; color: var(--muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
#more-jobs { margin-top: .75rem; }
/* Grid items default to min-width: auto, so a wide table would widen the page; let them shrink. */
main > * { min-width: 0; }
@media (max-width: 40rem) {
  header { padding: .75rem; }
  main { padding: .75rem .5rem 1.5rem; gap: .75rem; }
  section.card { padding: .75rem; }
  th.wide, td.wide { display: none; }
  th, td { white-space: normal; }
  td .actions { flex-wrap: nowrap; }
}
[hidden] { display: none !important; }
"""
