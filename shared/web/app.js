// The web page's script: an ES module, vanilla JS, no build step, no third-party code.
//
// One player at a time: while a long WAV or PCM job is made its audio plays as it
// arrives (Web Audio, from /audio?stream=1), with Pause and Stop; when the job is
// done the finished file takes over in the <audio> element at the same position,
// and the stream is closed. The pure helpers below are exported for the page's tests.

const TERMINAL = new Set(["completed", "failed", "canceled"]);
const RECENT = 10;
const TOKEN_KEY = "tts.token";
const PREFS_KEY = "tts.prefs";
const AHEAD_SECONDS = 20;  // audio scheduled ahead of the play position; the stream is read no further

// --- numbers people read ------------------------------------------------------

const UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** 1,234 bytes -> "1.2 KiB"; 169,345,000 -> "161 MiB": one decimal below 10, none above. */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  let value = n / 1024;
  let unit = 0;
  while (unit < UNITS.length - 1 && value >= 1023.95) { value /= 1024; unit += 1; }
  const digits = value < 9.95 ? 1 : 0;
  return `${value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${UNITS[unit]}`;
}

/** Seconds -> "0.5 s", "42 s", "4:05", "1:04:05". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${seconds < 9.95 ? seconds.toFixed(1) : Math.floor(seconds)} s`;
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function progressOf(job) {
  const p = job.progress;
  return p && Number.isInteger(p.done) && Number.isInteger(p.total) && p.total > 0 ? p : null;
}

/** Whether every part of a long job is made and the parts are being joined into one file. */
export function isAssembling(job) {
  const p = progressOf(job);
  return job.status === "processing" && p !== null && p.total > 1 && p.done >= p.total;
}

/** The line beside a job's status: what it is, how far it got, its numbers. */
export function describeJob(job, extra = {}) {
  const parts = [`${job.model} · ${job.voiceId || "default"} · ${job.format}`];
  if (job.inputCount) parts.push(`${job.inputCount} inputs`);
  const p = progressOf(job);
  if (job.status === "queued") {
    parts.push("waiting for a worker");
  } else if (job.status === "processing") {
    if (isAssembling(job)) parts.push(`all ${p.total} parts made; assembling the audio file`);
    else if (p && p.total > 1) {
      const inputs = Number.isInteger(p.inputsTotal) ? `, input ${p.inputsDone} of ${p.inputsTotal} done` : "";
      parts.push(`${Math.floor((100 * p.done) / p.total)}% (part ${p.done} of ${p.total}${inputs})`);
    }
    else parts.push("speaking");
  }
  if (job.characters > 0) parts.push(`${job.characters.toLocaleString("en-US")} characters sent`);
  const cache = job.cache;
  if (cache && cache.hit) parts.push("audio reused from the cache, no provider call");
  else if (cache && cache.chunksReused > 0) parts.push(`${cache.chunksReused} of ${cache.chunksTotal} parts reused from the cache`);
  if (Number.isFinite(extra.duration) && extra.duration > 0) parts.push(formatDuration(extra.duration));
  if (job.sizeBytes) parts.push(formatBytes(job.sizeBytes));
  if (job.error) parts.push(job.error);
  return parts.join(" — ");
}

/** The inputs of a text with one input per paragraph: voices in turn, a "# " first line as the title. */
export function paragraphInputs(text, voices) {
  const paragraphs = text.split(/\n[ \t]*\n/).map((p) => p.trim()).filter((p) => p);
  return paragraphs.map((paragraph, i) => {
    const input = { text: paragraph };
    const lines = paragraph.split("\n");
    if (lines[0].startsWith("# ") && lines.length > 1) {
      input.title = lines[0].slice(2).trim();
      input.text = lines.slice(1).join("\n").trim();
    }
    const voice = voices.length ? voices[i % voices.length] : "";
    if (voice) input.voiceId = voice;
    return input;
  });
}

// --- the page -------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

let nextCursor = null;  // the next page of recent jobs, when there is one
let defaultModel = null;
let models = [];
let current = null;      // job id shown in the job panel
let shown = null;        // that job, as last seen
let pollTimer = null;
let blobUrl = null;
let captionsBlobUrl = null;
let words = [];          // the shown job's word timings (/timestamps), in order
let spans = [];          // one <span> per word in #captions
let lit = -1;            // index of the highlighted word
let frame = null;        // requestAnimationFrame handle while playing
let live = null;         // the LiveStream playing the shown job while it is made

// --- HTTP -------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

const token = () => localStorage.getItem(TOKEN_KEY) || "";

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (token()) headers["Authorization"] = `Bearer ${token()}`;
  return headers;
}

async function failure(res) {
  let error = null;
  try { error = (await res.json()).error; } catch (_) { /* not JSON */ }
  return new ApiFailure(res.status, error);
}

async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: authHeaders(body ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) {
    if (res.status === 401) askForToken(token() ? "That token was not accepted." : "This server needs an API token.");
    throw await failure(res);
  }
  return res.status === 204 ? null : res.json();
}

// --- messages ---------------------------------------------------------------------

function say(text) { $("message").textContent = text || ""; }
function fail(err) { $("error").textContent = err ? (err.message || String(err)) : ""; }

// --- token --------------------------------------------------------------------------

function askForToken(why) {
  $("token-panel").hidden = false;
  $("token-why").textContent = why;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  localStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  $("token-panel").hidden = true;
  fail(null);
  say("Token saved in this browser.");
  refreshJobs();
  loadLexicons();
});
$("token-forget").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  say("Token forgotten.");
});
$("token-button").addEventListener("click", () => {
  const panel = $("token-panel");
  if (panel.hidden) askForToken(token() ? "A token is saved; enter another to replace it." : "Enter the API token, if this server needs one.");
  else panel.hidden = true;
});

// --- models -------------------------------------------------------------------------

const prefs = () => { try { return JSON.parse(localStorage.getItem(PREFS_KEY)) || {}; } catch (_) { return {}; } };
function savePrefs() {
  localStorage.setItem(PREFS_KEY, JSON.stringify({
    model: $("model").value, voice: $("voice").value, format: $("format").value, captions: $("timestamps").checked,
    ssml: $("ssml").checked,
  }));
}

function fill(select, values, chosen) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === chosen)));
}

const chosenModel = () => models.find((m) => m.id === $("model").value);

function showModel(saved) {
  const model = chosenModel();
  if (!model) return;
  const pick = (list, wanted, fallback) => (list.includes(wanted) ? wanted : fallback);
  fill($("voice"), model.voices, pick(model.voices, saved && saved.voice, model.defaultVoice));
  fill($("format"), model.formats, pick(model.formats, saved && saved.format, model.defaultFormat));
  const other = model.voices.find((v) => v !== $("voice").value) || $("voice").value;
  fill($("voice2"), model.voices, other);
  $("model-description").textContent = model.description || "";
  applyLimit();
  applyTimestamps();
}

// Captions can be asked for when the model times words in the chosen format (/v1/models).
function applyTimestamps() {
  const model = chosenModel();
  if (!model) return;
  const kind = model.timestamps || "none";
  const formats = model.timestampsFormats || [];
  const ok = kind !== "none" && formats.includes($("format").value);
  const box = $("timestamps");
  box.disabled = !ok;
  if (!ok) box.checked = false;
  $("timestamps-note").textContent = ok
    ? (kind === "exact" ? "exact timings from the engine" : "estimated timings (spread by word length)")
    : (kind === "none" ? "this model gives no word timings" : `word timings need ${formats.join(", ")}`);
}

// The most characters one job of the chosen model may hold in the chosen format (from /v1/models).
function applyLimit() {
  const model = chosenModel();
  if (!model) return;
  const byFormat = model.maxJobCharsByFormat || {};
  const limit = byFormat[$("format").value] || model.maxJobChars || model.maxInputChars || 100000;
  // With SSML the server counts the spoken text, not the tags: the box takes the document (4 bytes a character).
  $("text").maxLength = $("ssml").checked ? 4 * limit : limit;
  countChars();
}

async function loadModels() {
  const data = await api("GET", "/v1/models");
  models = data.models || [];
  defaultModel = data.defaultModel || null;
  const saved = prefs();
  const ids = models.map((m) => m.id);
  // A choice made here before wins; else the server's default (the best voice it has), not the first listed.
  const initial = ids.includes(saved.model) ? saved.model : (ids.includes(defaultModel) ? defaultModel : ids[0]);
  fill($("model"), ids, initial);
  for (const option of $("model").options) {
    if (option.value === defaultModel) option.textContent = `${option.value} (default)`;
  }
  $("timestamps").checked = saved.captions === true;
  $("ssml").checked = saved.ssml === true;
  applySsml();
  showModel(saved);
}

// --- SSML and lexicons (docs/pronunciation.md) ---------------------------------------

// Several inputs are plain text: SSML and lexicons go with one text.
function applyMulti() {
  const multi = $("multi").checked;
  $("multi-row").hidden = !multi;
  if (multi) $("ssml").checked = false;
  $("ssml").disabled = multi;
  $("lexicons").disabled = multi;
  if (multi) for (const option of $("lexicons").options) option.selected = false;
  applySsml();
}
$("multi").addEventListener("change", applyMulti);

function applySsml() {
  $("text").placeholder = $("ssml").checked
    ? '<speak>Hello <break time="1s"/> <sub alias="World Wide Web Consortium">W3C</sub></speak>'
    : "Type or paste the text to speak";
  applyLimit();
}

async function loadLexicons() {
  let data;
  try {
    data = await api("GET", "/v1/lexicons");
  } catch (_) {
    return;  // no token yet: the list fills once there is one
  }
  const chosen = new Set(Array.from($("lexicons").selectedOptions, (o) => o.value));
  const lexicons = data.lexicons || [];
  $("lexicons").replaceChildren(...lexicons.map(
    (l) => new Option(`${l.name} (${l.ruleCount} rules)`, l.name, false, chosen.has(l.name)),
  ));
  $("lexicon-row").hidden = lexicons.length === 0;
}

$("ssml").addEventListener("change", () => { applySsml(); savePrefs(); });

$("model").addEventListener("change", () => { showModel(null); savePrefs(); });
$("voice").addEventListener("change", savePrefs);
$("timestamps").addEventListener("change", savePrefs);
$("format").addEventListener("change", () => { applyLimit(); applyTimestamps(); savePrefs(); });

function countChars() {
  const n = $("text").value.length;
  const limit = $("text").maxLength;
  if ($("ssml").checked) {
    $("char-count").textContent = `${n.toLocaleString()} characters of SSML (the limit counts the spoken text, not the tags)`;
    return;
  }
  $("char-count").textContent = limit > 0
    ? `${n.toLocaleString()} / ${limit.toLocaleString()} characters for ${$("model").value || "this model"} in ${$("format").value || "this format"}`
    : `${n.toLocaleString()} characters`;
}
$("text").addEventListener("input", countChars);

// --- the finished file in <audio> ---------------------------------------------------

function releaseAudio() {
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.load();
  player.hidden = true;
  $("download").hidden = true;
  if (blobUrl) { URL.revokeObjectURL(blobUrl); blobUrl = null; }
  clearCaptions();
}

// A path of the job, signed like its audioUrl when the server signs links (then no token is sent).
function jobFile(job, name, query = "") {
  const link = job.audioUrl ? new URL(job.audioUrl, location.href) : null;
  const path = `/v1/jobs/${encodeURIComponent(job.jobId)}/${name}`;
  if (link && link.search) return { url: path + link.search + (query ? `&${query}` : ""), headers: {} };
  return { url: path + (query ? `?${query}` : ""), headers: authHeaders() };
}

async function fetchJobFile(job, name, query = "") {
  const { url, headers } = jobFile(job, name, query);
  const res = await fetch(url, { headers, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  return res;
}

async function loadAudio(job) {
  let src;
  const link = job.audioUrl ? new URL(job.audioUrl, location.href) : null;
  if (link && link.search) {
    src = link.href;  // a signed link carries its own authorization
  } else {
    // <audio src> cannot send a bearer token: fetch the bytes, play a Blob URL.
    const res = await fetch(`/v1/jobs/${encodeURIComponent(job.jobId)}/audio`, { headers: authHeaders(), cache: "no-store" });
    if (!res.ok) throw await failure(res);
    const blob = await res.blob();
    if (current !== job.jobId) return false;
    blobUrl = URL.createObjectURL(blob);
    src = blobUrl;
  }
  if (current !== job.jobId) return false;
  $("player").src = src;
  const download = $("download");
  download.href = src;
  download.download = `${job.jobId}.${job.format}`;
  download.textContent = `Download ${job.format.toUpperCase()} (${formatBytes(job.sizeBytes || 0)})`;
  download.hidden = false;
  return true;
}

// Resolves once the player knows the file's duration (so it can be positioned).
function metadataOf(player) {
  if (player.readyState >= 1) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { player.removeEventListener("loadedmetadata", done); player.removeEventListener("error", done); resolve(); };
    player.addEventListener("loadedmetadata", done);
    player.addEventListener("error", done);
  });
}

$("player").addEventListener("error", () => {
  if ($("player").getAttribute("src")) say("This browser cannot play this format; download it instead.");
});
$("player").addEventListener("loadedmetadata", () => { if (shown) renderJob(shown); });
// One source at a time: the file never plays over the stream.
$("player").addEventListener("play", () => { if (live) stopLive(); });

// --- captions: the words under the player, the spoken one highlighted ----------------

function clearCaptions() {
  if (frame) { cancelAnimationFrame(frame); frame = null; }
  words = []; spans = []; lit = -1;
  $("captions").replaceChildren();
  $("captions").hidden = true;
  $("download-captions").hidden = true;
  if (captionsBlobUrl) { URL.revokeObjectURL(captionsBlobUrl); captionsBlobUrl = null; }
}

function clearChapters() {
  $("chapters").replaceChildren();
  $("chapters").hidden = true;
}

// A job with inputs: one line per input, with its times, a button to play from it and its own file.
async function loadChapters(job) {
  const doc = await (await fetchJobFile(job, "timestamps")).json();
  if (current !== job.jobId) return;
  const items = (doc.chapters || []).map((c) => {
    const li = document.createElement("li");
    const play = document.createElement("button");
    play.type = "button";
    play.className = "small";
    play.textContent = `${c.title} (${formatDuration(c.start)}–${formatDuration(c.end)})`;
    play.setAttribute("aria-label", `Play ${c.title} from ${formatDuration(c.start)}`);
    play.addEventListener("click", () => { const p = $("player"); p.currentTime = c.start; p.play().catch(() => {}); });
    li.append(play);
    if (Number.isInteger(c.byteStart)) {
      const link = document.createElement("a");
      link.textContent = "file";
      link.setAttribute("aria-label", `Download ${c.title} on its own`);
      link.href = "#";
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        try {
          const blob = await (await fetchJobFile(job, "audio", `input=${c.index}`)).blob();
          const a = document.createElement("a");
          a.href = URL.createObjectURL(blob);
          a.download = `${job.jobId}-input${c.index}.${job.format}`;
          a.click();
          setTimeout(() => URL.revokeObjectURL(a.href), 10000);
        } catch (err) { fail(err); }
      });
      li.append(" ", link);
    }
    return li;
  });
  $("chapters").replaceChildren(...items);
  $("chapters").hidden = items.length === 0;
}

async function loadCaptions(job) {
  const doc = await (await fetchJobFile(job, "timestamps")).json();
  if (current !== job.jobId) return;
  words = doc.words || [];
  const box = $("captions");
  const nodes = [];
  spans = words.map((w, i) => {
    const span = document.createElement("span");
    span.textContent = w.word;
    span.dataset.index = String(i);
    span.title = `${w.start.toFixed(2)} s`;
    if (i) nodes.push(document.createTextNode(" "));
    nodes.push(span);
    return span;
  });
  box.replaceChildren(...nodes);
  box.hidden = words.length === 0;
  box.dataset.timings = doc.timings || "";
  const vtt = await (await fetchJobFile(job, "captions.vtt")).blob();
  if (current !== job.jobId) return;
  captionsBlobUrl = URL.createObjectURL(vtt);
  const link = $("download-captions");
  link.href = captionsBlobUrl;
  link.download = `${job.jobId}.vtt`;
  link.hidden = false;
  highlight();
}

// The word being spoken: the last one that has started (binary search over the starts).
function wordAt(t) {
  let lo = 0, hi = words.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid].start <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

function highlight() {
  if (!words.length) return;
  const index = wordAt($("player").currentTime);
  if (index === lit) return;
  if (lit >= 0 && spans[lit]) { spans[lit].classList.remove("spoken"); spans[lit].removeAttribute("aria-current"); }
  lit = index;
  if (lit >= 0 && spans[lit]) {
    spans[lit].classList.add("spoken");
    spans[lit].setAttribute("aria-current", "true");
    const box = $("captions");
    const top = spans[lit].offsetTop - box.offsetTop;
    if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - 24) box.scrollTop = Math.max(0, top - 24);
  }
}

function followPlayback() {
  highlight();
  frame = $("player").paused ? null : requestAnimationFrame(followPlayback);
}

$("player").addEventListener("play", () => { if (!frame) frame = requestAnimationFrame(followPlayback); });
for (const name of ["timeupdate", "seeked", "pause", "ended"]) $("player").addEventListener(name, highlight);
$("captions").addEventListener("click", (event) => {
  const index = event.target && event.target.dataset ? Number(event.target.dataset.index) : NaN;
  if (!Number.isInteger(index) || !words[index]) return;
  $("player").currentTime = words[index].start;
  highlight();
  $("player").play().catch(() => { /* the user can press play */ });
});

// --- audio while it is made (GET /audio?stream=1, docs/openai.md) ---------------------
// A job of several parts in wav or pcm: its parts' samples arrive as they are stored and
// play one after another through Web Audio (an <audio> element cannot send the bearer
// token, and MediaSource takes no WAV). Each stream has its own AudioContext: Pause
// suspends it, Stop closes it. At most AHEAD_SECONDS are scheduled past the play
// position; the stream is not read further until they are played.

const AudioContextClass = window.AudioContext || window.webkitAudioContext;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class LiveStream {
  constructor(job, context) {
    this.jobId = job.jobId;
    this.job = job;
    this.context = context;
    this.abort = new AbortController();
    this.segments = [];   // {start (context time), media (seconds into the audio), duration}, in order
    this.made = 0;        // seconds of audio received
    this.at = 0;          // context time where the next part starts
    this.closed = false;
  }

  get playing() { return !this.closed && this.context.state === "running"; }

  /** Seconds into the job's audio being heard now (where the file takes over). */
  position() {
    const now = this.context.currentTime;
    let position = 0;
    for (const s of this.segments) {
      if (now < s.start) break;
      if (now < s.start + s.duration) return s.media + (now - s.start);
      position = s.media + s.duration;
    }
    return position;
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    try { await this.context.close(); } catch (_) { /* already closed */ }
  }

  schedule(samples, channels, rate) {
    const frames = samples.length / channels;
    const buffer = this.context.createBuffer(channels, frames, rate);
    for (let c = 0; c < channels; c++) {
      const data = buffer.getChannelData(c);
      for (let i = 0; i < frames; i++) data[i] = samples[i * channels + c] / 32768;
    }
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    this.at = Math.max(this.at, this.context.currentTime + 0.05);
    source.start(this.at);
    this.segments.push({ start: this.at, media: this.made, duration: buffer.duration });
    this.at += buffer.duration;
    this.made += buffer.duration;
    const player = $("player");
    player.dataset.streamedFrames = String(Number(player.dataset.streamedFrames || 0) + frames);
  }

  async run() {
    const job = this.job;
    let rate = job.sampleRate || 24000;
    let channels = 1;
    let header = job.format === "wav" ? 44 : 0;
    let pending = new Uint8Array(0);
    const res = await fetch(`/v1/jobs/${encodeURIComponent(job.jobId)}/audio?stream=1`,
      { headers: authHeaders(), cache: "no-store", signal: this.abort.signal });
    if (!res.ok || !res.body) throw await failure(res);
    const reader = res.body.getReader();
    for (;;) {
      // Read no further ahead than AHEAD_SECONDS (the context's clock stands while paused).
      while (!this.closed && this.at - this.context.currentTime > AHEAD_SECONDS) await sleep(250);
      if (this.closed) return;
      const { value, done } = await reader.read();
      if (done || this.closed) return;
      const joined = new Uint8Array(pending.length + value.length);
      joined.set(pending); joined.set(value, pending.length);
      pending = joined;
      if (header) {
        if (pending.length < header) continue;
        const view = new DataView(pending.buffer, pending.byteOffset, header);
        channels = view.getUint16(22, true) || 1;
        rate = view.getUint32(24, true) || rate;
        pending = pending.slice(header);
        header = 0;
      }
      const usable = pending.length - (pending.length % (2 * channels));
      if (!usable) continue;
      const samples = new Int16Array(pending.slice(0, usable).buffer);
      pending = pending.slice(usable);
      this.schedule(samples, channels, rate);
    }
  }
}

// The job will be made in several parts: known from its progress, or at submit from its length.
function streamable(job, chunked) {
  const p = progressOf(job);
  return Boolean(AudioContextClass) && !TERMINAL.has(job.status) && (job.format === "wav" || job.format === "pcm")
    && (chunked || (p !== null && p.total > 1));
}

function showLive() {
  const controls = $("live");
  const stream = live && live.jobId === current ? live : null;
  controls.hidden = !(stream || (shown && current && streamable(shown, false)));
  $("live-toggle").textContent = stream && stream.playing ? "Pause" : "Play";
  $("live-toggle").setAttribute("aria-label", stream && stream.playing ? "Pause the audio" : "Play the audio while it is made");
  $("live-stop").disabled = !stream;
  $("live-time").textContent = stream
    ? `${formatDuration(stream.position())} of ${formatDuration(stream.made)} made so far`
    : "Listen while the rest is made.";
}

let liveTicker = null;
function tickLive() {
  if (liveTicker) return;
  liveTicker = setInterval(() => {
    if (!live) { clearInterval(liveTicker); liveTicker = null; }
    showLive();
  }, 250);
}

// context: an AudioContext made during the user's click (browsers let only those start).
function startLive(job, context) {
  const stream = new LiveStream(job, context);
  live = stream;
  say("Playing the audio while it is made…");
  showLive();
  tickLive();
  stream.run().catch((err) => {
    if (stream.closed || err.name === "AbortError") return;
    if (live === stream) say("The live audio stopped; the whole file will be here when the job is done.");
  });
}

async function stopLive() {
  const stream = live;
  live = null;
  if (stream) await stream.close();
  showLive();
}

function newContext() {
  try { return new AudioContextClass(); } catch (_) { return null; }
}

$("live-toggle").addEventListener("click", async () => {
  if (live && live.jobId === current) {
    if (live.playing) await live.context.suspend();
    else await live.context.resume();
    showLive();
    return;
  }
  if (!shown || !streamable(shown, false)) return;
  const context = newContext();
  if (context) startLive(shown, context);
});
$("live-stop").addEventListener("click", async () => {
  await stopLive();
  say("Stopped. The whole file will be here when the job is done.");
});

// The finished file takes over from the stream, at the position the stream had reached.
async function handOver() {
  const player = $("player");
  await metadataOf(player);
  const stream = live;
  if (!stream || stream.jobId !== current) return;
  const position = stream.position();
  const playing = stream.playing;
  await stopLive();  // closed before the file starts: never two sources at once
  if (Number.isFinite(player.duration)) player.currentTime = Math.min(position, player.duration);
  else player.currentTime = position;
  if (playing) await player.play().catch(() => { /* the user can press play */ });
}

// --- one job ------------------------------------------------------------------------

function renderJob(job) {
  shown = job;
  $("job-panel").hidden = false;
  $("job-id").textContent = job.jobId;
  const badge = $("job-status");
  badge.textContent = isAssembling(job) ? "assembling" : job.status;
  badge.className = `badge ${job.status}`;
  const bar = $("job-progress");
  const p = progressOf(job);
  if (isAssembling(job) || (!p && !TERMINAL.has(job.status))) {
    bar.removeAttribute("value");  // indeterminate: working, no count to show
  } else if (p && !TERMINAL.has(job.status)) {
    bar.max = p.total; bar.value = p.done;
  } else {
    bar.max = 1; bar.value = 1;
  }
  bar.hidden = TERMINAL.has(job.status);
  const duration = $("player").getAttribute("src") ? $("player").duration : NaN;
  $("job-detail").textContent = describeJob(job, { duration });
  $("characters-note").hidden = !(job.characters > 0);
  const delivery = $("job-delivery");
  delivery.hidden = !job.delivery;
  if (job.delivery) delivery.textContent = describeDelivery(job.delivery);
  showLive();
}

// --- delivery to the customer's bucket (deliver.url) ------------------------------
const DELIVERY_WORDS = {
  pending: "waiting", delivering: "uploading now", delivered: "delivered", failed: "failed",
};
function describeDelivery(d) {
  const tries = d.attempts ? ` after ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}` : "";
  const error = d.lastError ? ` (last error: ${d.lastError})` : "";
  return `Delivery to your bucket: ${DELIVERY_WORDS[d.state] || d.state}${d.state === "pending" ? "" : tries}${error}`;
}

// A completed job's delivery goes on after it: look again every few seconds until it ends (at most 15 min).
let deliveryTimer = null;
function followDelivery(jobId, started = Date.now()) {
  clearTimeout(deliveryTimer);
  deliveryTimer = setTimeout(async () => {
    if (current !== jobId || Date.now() - started > 15 * 60 * 1000) return;
    try {
      const job = await api("GET", `/v1/jobs/${jobId}`);
      if (current !== jobId) return;
      renderJob(job);
      if (job.delivery && (job.delivery.state === "pending" || job.delivery.state === "delivering")) {
        followDelivery(jobId, started);
      }
    } catch (err) {
      if (!(err instanceof ApiFailure && err.status < 500 && err.status !== 429)) followDelivery(jobId, started);
    }
  }, 2000);
}

let eventsAbort = null;  // the job's event stream being read, if any
let eventsMissing = false;  // the server has no /events: long-poll instead
function stopPolling() {
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  if (eventsAbort) { eventsAbort.abort(); eventsAbort = null; }
}

// The job's changes as server-sent events (GET /v1/jobs/{id}/events): one
// connection, an event per change. Read with fetch (EventSource cannot send the
// token); after a dropped stream it resumes with Last-Event-ID, and a server
// without the route is long-polled instead.
async function follow(jobId) {
  if (eventsMissing) return poll(jobId, 0);
  const abort = new AbortController();
  eventsAbort = abort;
  let lastId = null;
  for (let attempt = 0; attempt < 50 && current === jobId && !abort.signal.aborted; attempt++) {
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const res = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers, cache: "no-store", signal: abort.signal });
      if (!res.ok) {
        const err = await failure(res);
        if (res.status === 404 && lastId === null && /no route/.test(err.message || "")) { eventsMissing = true; return poll(jobId, 0); }
        if (res.status < 500 && res.status !== 429) { fail(err); return; }
        throw err;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = {};
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const at = line.indexOf(":");
            fields[line.slice(0, at)] = line.slice(at + 1).replace(/^ /, "");
          }
          if (fields.event !== "job" || !fields.data || current !== jobId) continue;
          lastId = fields.id ?? lastId;
          const job = JSON.parse(fields.data);
          renderJob(job);
          if (TERMINAL.has(job.status)) { eventsAbort = null; return finished(job); }
        }
      }
    } catch (err) {
      if (abort.signal.aborted || current !== jobId) return;
      await new Promise((resolve) => setTimeout(resolve, 500 + Math.random() * 1000));
    }
  }
  if (current === jobId && !abort.signal.aborted) poll(jobId, 0);
}

// Long-poll: the server holds each GET ?wait=20 until the job changes (status or
// chunks done), so the next one goes at once; only an error or an answer that did
// not change (a busy shard answers at once) backs off, with jitter.
const same = (a, b) => a && b && a.status === b.status && a.updatedAt === b.updatedAt
  && JSON.stringify(a.progress || null) === JSON.stringify(b.progress || null);
function poll(jobId, delay, last) {
  pollTimer = setTimeout(async () => {
    if (current !== jobId) return;
    let next = Math.min(Math.max(delay, 250) * 1.6, 3000);
    try {
      const job = await api("GET", `/v1/jobs/${jobId}?wait=20`);
      if (current !== jobId) return;
      renderJob(job);
      if (TERMINAL.has(job.status)) return finished(job);
      if (!same(job, last)) next = 0;
      last = job;
    } catch (err) {
      if (err instanceof ApiFailure && err.status < 500 && err.status !== 429) { fail(err); return; }
    }
    poll(jobId, next ? next / 2 + Math.random() * next / 2 : 0, last);
  }, delay);
}

async function finished(job) {
  refreshJobs();
  if (job.delivery && (job.delivery.state === "pending" || job.delivery.state === "delivering")) {
    followDelivery(job.jobId);
  }
  if (job.status !== "completed") {
    await stopLive();
    say(`Job ${job.status}${job.error ? `: ${job.error}` : "."}`);
    return;
  }
  say(live ? "Finished: the whole file takes over…" : "Finished: loading the audio…");
  try {
    if (!(await loadAudio(job))) return;
    if (live && live.jobId === job.jobId) await handOver();
    if (current !== job.jobId) return;
    $("player").hidden = false;
    renderJob(job);
    if (job.timestamps) await loadCaptions(job);
    if (job.inputCount) await loadChapters(job);
    say(job.timestamps
      ? "Finished: the audio and its captions are ready. Press play, or click a word to play from it."
      : "Finished: the audio is ready. Press play, or download it.");
  } catch (err) { fail(err); }
}

function openJob(job) {
  stopPolling();
  stopLive();
  releaseAudio();
  delete $("player").dataset.streamedFrames;
  fail(null);
  current = job.jobId;
  clearChapters();
  renderJob(job);
  markCurrent();
  if (TERMINAL.has(job.status)) finished(job);
  else follow(job.jobId);
}

$("job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) { fail(new Error("Type some text first.")); $("text").focus(); return; }
  const multi = $("multi").checked;
  const button = $("submit");
  button.disabled = true;
  // Made now, inside the click: a browser starts audio only after a gesture. Closed if unused.
  const context = AudioContextClass ? newContext() : null;
  fail(null);
  say("Submitting…");
  try {
    const body = { text, model: $("model").value, voiceId: $("voice").value, format: $("format").value };
    if (multi) {
      delete body.text;
      body.inputs = paragraphInputs(text, [$("voice").value, $("voice2").value]);
      body.gapMs = Math.max(0, Math.min(10000, Number($("gap").value) || 0));
    }
    if ($("timestamps").checked && !$("timestamps").disabled) body.timestamps = "word";
    if (!$("reuse").checked) body.cache = false;
    if ($("ssml").checked) body.textType = "ssml";
    const lexicons = Array.from($("lexicons").selectedOptions, (o) => o.value);
    if (lexicons.length) body.lexicons = lexicons;
    const deliverUrl = $("deliver-url").value.trim();
    if (deliverUrl) body.deliver = { url: deliverUrl };
    const job = await api("POST", "/v1/jobs", body);
    $("deliver-url").value = "";  // a secret, and one bucket object per job: never sent twice by accident
    say("Queued: speaking…");
    openJob(job);
    $("job-panel").scrollIntoView({ block: "start" });
    const model = models.find((m) => m.id === job.model);
    const chunked = multi || Boolean(model && model.maxInputChars && text.trim().length > model.maxInputChars);
    if (context && streamable(job, chunked)) startLive(job, context);
    else if (context) context.close().catch(() => {});
    refreshJobs();
  } catch (err) {
    if (context) context.close().catch(() => {});
    say("");
    fail(err);
  } finally {
    button.disabled = false;
  }
});

// --- recent jobs --------------------------------------------------------------------

function markCurrent() {
  for (const row of $("jobs").tBodies[0].rows) row.classList.toggle("current", row.dataset.jobId === current);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label, name, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

// more: append the next page (nextCursor) instead of reloading the first.
async function refreshJobs(more) {
  let data;
  const cursor = more === true && nextCursor ? `&cursor=${encodeURIComponent(nextCursor)}` : "";
  try {
    data = await api("GET", `/v1/jobs?limit=${RECENT}${cursor}`);
  } catch (err) {
    if (!(err instanceof ApiFailure && err.status === 401)) fail(err);
    return;
  }
  nextCursor = data.nextCursor || null;
  $("more-jobs").hidden = !nextCursor;
  const body = $("jobs").tBodies[0];
  const rows = data.jobs.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.jobId;
    const badge = document.createElement("span");
    badge.className = `badge ${job.status}`;
    badge.textContent = job.status;
    const status = cell("", "status");
    status.append(badge);
    const actions = document.createElement("div");
    actions.className = "actions";
    const when = new Date(job.createdAt).toLocaleString();
    actions.append(
      button("Open", `Open the job of ${when}`, () => openJob(job)),
      button("Delete", `Delete the job of ${when}`, async () => {
        if (!confirm(`Delete the job of ${when} and its audio? This cannot be undone.`)) return;
        try {
          await api("DELETE", `/v1/jobs/${encodeURIComponent(job.jobId)}`);
          if (current === job.jobId) {
            stopPolling(); stopLive(); releaseAudio(); current = null; shown = null; $("job-panel").hidden = true;
          }
          say("Deleted.");
        } catch (err) { fail(err); }
        refreshJobs();
      }),
    );
    const actionsCell = cell("", "row-actions");
    actionsCell.append(actions);
    const characters = job.characters > 0 ? job.characters.toLocaleString() : "–";
    tr.append(cell(when, "when"), status, cell(job.model, "model"), cell(job.voiceId || "default", "wide"),
      cell(characters, "num wide"), actionsCell);
    return tr;
  });
  if (cursor) body.append(...rows);
  else body.replaceChildren(...rows);
  $("no-jobs").hidden = body.rows.length > 0;
  markCurrent();
}
$("refresh").addEventListener("click", () => { refreshJobs(); loadLexicons(); });
$("more-jobs").addEventListener("click", () => refreshJobs(true));

// --- start --------------------------------------------------------------------------

countChars();
$("lexicon-row").hidden = true;
loadModels().catch(fail);
refreshJobs();
loadLexicons();
