"""The page's script: vanilla JS, no build step, no third-party code (see ``shared.web``)."""

JS = r"""
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "tts.token";
  const PREFS_KEY = "tts.prefs";
  const TERMINAL = new Set(["completed", "failed", "canceled"]);
  const RECENT = 10;
  let nextCursor = null;  // the next page of recent jobs, when there is one
  let defaultModel = null;

  let models = [];
  let current = null;      // job id shown in the job panel
  let pollTimer = null;
  let blobUrl = null;
  let captionsBlobUrl = null;
  let words = [];          // the shown job's word timings (/timestamps), in order
  let spans = [];          // one <span> per word in #captions
  let lit = -1;            // index of the highlighted word
  let frame = null;        // requestAnimationFrame handle while playing

  // --- HTTP ------------------------------------------------------------------

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

  async function api(method, path, body) {
    const init = { method, cache: "no-store", headers: authHeaders(body ? { "Content-Type": "application/json" } : {}) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    if (!res.ok) {
      let error = null;
      try { error = (await res.json()).error; } catch (_) { /* not JSON */ }
      if (res.status === 401) askForToken(token() ? "That token was not accepted." : "This server needs an API token.");
      throw new ApiFailure(res.status, error);
    }
    return res.status === 204 ? null : res.json();
  }

  // --- messages --------------------------------------------------------------

  function say(text) { $("message").textContent = text || ""; }
  function fail(err) {
    $("error").textContent = err ? (err.message || String(err)) : "";
  }

  // --- token -----------------------------------------------------------------

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

  // --- models ----------------------------------------------------------------

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

  function showModel(saved) {
    const model = models.find((m) => m.id === $("model").value);
    if (!model) return;
    const pick = (list, wanted, fallback) => (list.includes(wanted) ? wanted : fallback);
    fill($("voice"), model.voices, pick(model.voices, saved && saved.voice, model.defaultVoice));
    fill($("format"), model.formats, pick(model.formats, saved && saved.format, model.defaultFormat));
    $("model-description").textContent = model.description || "";
    applyLimit();
    applyTimestamps();
  }

  // Captions can be asked for when the model times words in the chosen format (/v1/models).
  function applyTimestamps() {
    const model = models.find((m) => m.id === $("model").value);
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
    const model = models.find((m) => m.id === $("model").value);
    if (!model) return;
    const byFormat = model.maxJobCharsByFormat || {};
    const limit = byFormat[$("format").value] || model.maxJobChars || model.maxInputChars || 100000;
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
    fill($("model"), models.map((m) => m.id), initial);
    for (const option of $("model").options) {
      if (option.value === defaultModel) option.textContent = `${option.value} (default)`;
    }
    $("timestamps").checked = saved.captions === true;
    $("ssml").checked = saved.ssml === true;
    applySsml();
    showModel(saved);
  }

  // --- SSML and lexicons (docs/pronunciation.md) ------------------------------------

  // With SSML the server counts the spoken text, not the tags: the box takes the document (4 bytes a character).
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
    const names = (data.lexicons || []).map((l) => l.name);
    $("lexicons").replaceChildren(...(data.lexicons || []).map(
      (l) => new Option(`${l.name} (${l.ruleCount} rules)`, l.name, false, chosen.has(l.name)),
    ));
    $("lexicon-row").hidden = names.length === 0;
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

  // --- one job ---------------------------------------------------------------

  function releaseAudio() {
    const player = $("player");
    player.pause();
    player.removeAttribute("src");
    player.load();
    $("download").hidden = true;
    if (blobUrl) { URL.revokeObjectURL(blobUrl); blobUrl = null; }
    clearCaptions();
  }

  // --- captions: the words under the player, the spoken one highlighted -------

  function clearCaptions() {
    if (frame) { cancelAnimationFrame(frame); frame = null; }
    words = []; spans = []; lit = -1;
    $("captions").replaceChildren();
    $("captions").hidden = true;
    $("download-captions").hidden = true;
    if (captionsBlobUrl) { URL.revokeObjectURL(captionsBlobUrl); captionsBlobUrl = null; }
  }

  // A path of the job, signed like its audioUrl when the server signs links (then no token is sent).
  function jobFile(job, name) {
    const link = job.audioUrl ? new URL(job.audioUrl, location.href) : null;
    const path = `/v1/jobs/${encodeURIComponent(job.jobId)}/${name}`;
    return link && link.search ? { url: path + link.search, headers: {} } : { url: path, headers: authHeaders() };
  }

  async function fetchJobFile(job, name) {
    const { url, headers } = jobFile(job, name);
    const res = await fetch(url, { headers, cache: "no-store" });
    if (!res.ok) {
      let error = null;
      try { error = (await res.json()).error; } catch (_) { /* not JSON */ }
      throw new ApiFailure(res.status, error);
    }
    return res;
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

  function progressOf(job) {
    const p = job.progress;
    return p && Number.isInteger(p.done) && Number.isInteger(p.total) && p.total > 0 ? p : null;
  }

  function renderJob(job) {
    $("job-panel").hidden = false;
    $("job-id").textContent = job.jobId;
    const badge = $("job-status");
    badge.textContent = job.status;
    badge.className = `badge ${job.status}`;
    const bar = $("job-progress");
    const p = progressOf(job);
    const parts = [`${job.model} · ${job.voiceId || "default"} · ${job.format}`, `${job.characters.toLocaleString()} characters`];
    if (p) {
      bar.max = p.total; bar.value = p.done;
      parts.push(`${Math.floor((100 * p.done) / p.total)}% (chunk ${p.done} of ${p.total})`);
    } else if (TERMINAL.has(job.status)) {
      bar.max = 1; bar.value = 1;
    } else {
      bar.removeAttribute("value");  // indeterminate
    }
    bar.hidden = job.status === "failed" || job.status === "canceled";
    if (job.sizeBytes) parts.push(`${(job.sizeBytes / 1024).toFixed(1)} KiB`);
    if (job.error) parts.push(job.error);
    $("job-detail").textContent = parts.join(" — ");
  }

  function stopPolling() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
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
        maybeStream(job);
        if (!same(job, last)) next = 0;
        last = job;
      } catch (err) {
        if (err instanceof ApiFailure && err.status < 500 && err.status !== 429) { fail(err); return; }
      }
      poll(jobId, next ? next / 2 + Math.random() * next / 2 : 0, last);
    }, delay);
  }

  // --- audio while it is made (GET /audio?stream=1, docs/openai.md) ------------
  // A job of several chunks in wav or pcm: its chunks' samples arrive as they are
  // stored and are played one after another through Web Audio (an <audio> element
  // cannot send the bearer token, and MediaSource takes no WAV).

  let audioContext = null;
  let live = null;  // {jobId, abort, sources}

  function unlockAudio() {  // from a click: browsers start audio only after a gesture
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audioContext = audioContext || new Context();
    audioContext.resume().catch(() => {});
  }

  function stopLive() {
    if (!live) return;
    live.abort.abort();
    for (const source of live.sources) { try { source.stop(); } catch (_) { /* not started */ } }
    live = null;
  }

  // chunked: the job is known to need several chunks (its progress says so, or its text is
  // longer than its model's maxInputChars: then the stream starts at once and waits for chunk 0).
  function maybeStream(job, chunked) {
    const p = progressOf(job);
    if (live || !audioContext || TERMINAL.has(job.status)) return;
    if (!chunked && !(job.status === "processing" && p && p.total > 1)) return;
    if (job.format !== "wav" && job.format !== "pcm") return;
    playStream(job);
  }

  async function playStream(job) {
    const abort = new AbortController();
    const mine = { jobId: job.jobId, abort, sources: [] };
    live = mine;
    let rate = job.sampleRate || 24000;
    let channels = 1;
    let header = job.format === "wav" ? 44 : 0;
    let pending = new Uint8Array(0);
    let at = 0;
    try {
      const res = await fetch(`/v1/jobs/${encodeURIComponent(job.jobId)}/audio?stream=1`,
        { headers: authHeaders(), cache: "no-store", signal: abort.signal });
      if (!res.ok || !res.body) return;
      say("Playing the audio while it is made…");
      const reader = res.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done || live !== mine) break;
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
        const frame = 2 * channels;
        const usable = pending.length - (pending.length % frame);
        if (!usable) continue;
        const samples = new Int16Array(pending.slice(0, usable).buffer);
        pending = pending.slice(usable);
        const frames = samples.length / channels;
        const buffer = audioContext.createBuffer(channels, frames, rate);
        for (let c = 0; c < channels; c++) {
          const data = buffer.getChannelData(c);
          for (let i = 0; i < frames; i++) data[i] = samples[i * channels + c] / 32768;
        }
        const source = audioContext.createBufferSource();
        source.buffer = buffer;
        source.connect(audioContext.destination);
        at = Math.max(at, audioContext.currentTime + 0.05);
        source.start(at);
        at += buffer.duration;
        mine.sources.push(source);
        $("player").dataset.streamedFrames = String(Number($("player").dataset.streamedFrames || 0) + frames);
      }
    } catch (err) {
      if (err.name !== "AbortError") fail(err);
    }
  }

  async function finished(job) {
    refreshJobs();
    if (job.status !== "completed") { say(`Job ${job.status}${job.error ? `: ${job.error}` : "."}`); return; }
    say("Finished: loading the audio…");
    try {
      await loadAudio(job);
      if (job.timestamps) await loadCaptions(job);
      say(job.timestamps
        ? "Finished: the audio and its captions are ready. Press play, or click a word to play from it."
        : "Finished: the audio is ready. Press play, or download it.");
    } catch (err) { fail(err); }
  }

  async function loadAudio(job) {
    releaseAudio();
    let src;
    const link = job.audioUrl ? new URL(job.audioUrl, location.href) : null;
    if (link && link.search) {
      src = link.href;  // a signed link carries its own authorization
    } else {
      // <audio src> cannot send a bearer token: fetch the bytes, play a Blob URL.
      const res = await fetch(`/v1/jobs/${encodeURIComponent(job.jobId)}/audio`, { headers: authHeaders(), cache: "no-store" });
      if (!res.ok) {
        let error = null;
        try { error = (await res.json()).error; } catch (_) { /* not JSON */ }
        throw new ApiFailure(res.status, error);
      }
      blobUrl = URL.createObjectURL(await res.blob());
      src = blobUrl;
    }
    if (current !== job.jobId) return;
    $("player").src = src;
    const download = $("download");
    download.href = src;
    download.download = `${job.jobId}.${job.format}`;
    download.textContent = `Download ${job.format.toUpperCase()}`;
    download.hidden = false;
  }

  function openJob(job) {
    stopPolling();
    stopLive();
    releaseAudio();
    delete $("player").dataset.streamedFrames;
    fail(null);
    current = job.jobId;
    renderJob(job);
    markCurrent();
    if (TERMINAL.has(job.status)) finished(job);
    else poll(job.jobId, 0);
  }

  $("player").addEventListener("error", () => {
    if ($("player").getAttribute("src")) say("This browser cannot play this format; download it instead.");
  });

  $("job-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) { fail(new Error("Type some text first.")); $("text").focus(); return; }
    const button = $("submit");
    button.disabled = true;
    unlockAudio();
    fail(null);
    say("Submitting…");
    try {
      const body = { text, model: $("model").value, voiceId: $("voice").value, format: $("format").value };
      if ($("timestamps").checked && !$("timestamps").disabled) body.timestamps = "word";
      if ($("ssml").checked) body.textType = "ssml";
      const lexicons = Array.from($("lexicons").selectedOptions, (o) => o.value);
      if (lexicons.length) body.lexicons = lexicons;
      const job = await api("POST", "/v1/jobs", body);
      say("Queued: speaking…");
      openJob(job);
      const model = models.find((m) => m.id === job.model);
      maybeStream(job, Boolean(model && model.maxInputChars && text.length > model.maxInputChars));
      refreshJobs();
    } catch (err) {
      say("");
      fail(err);
    } finally {
      button.disabled = false;
    }
  });

  // --- recent jobs -----------------------------------------------------------

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
      const status = cell("");
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
            if (current === job.jobId) { stopPolling(); stopLive(); releaseAudio(); current = null; $("job-panel").hidden = true; }
            say("Deleted.");
          } catch (err) { fail(err); }
          refreshJobs();
        }),
      );
      const actionsCell = cell("");
      actionsCell.append(actions);
      tr.append(cell(when), status, cell(job.model), cell(job.voiceId || "default", "wide"), cell(job.characters.toLocaleString(), "num wide"), actionsCell);
      return tr;
    });
    if (cursor) body.append(...rows);
    else body.replaceChildren(...rows);
    $("no-jobs").hidden = body.rows.length > 0;
    markCurrent();
  }
  $("refresh").addEventListener("click", () => { refreshJobs(); loadLexicons(); });
  $("more-jobs").addEventListener("click", () => refreshJobs(true));

  // --- start -----------------------------------------------------------------

  countChars();
  $("lexicon-row").hidden = true;
  loadModels().catch(fail);
  refreshJobs();
  loadLexicons();
})();
"""
