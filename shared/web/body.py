"""The page's markup (see ``shared.web``); the style and script are inlined by ``shared.web.page``."""

BODY = """
<header>
  <h1><span aria-hidden="true">&#9836;</span> Text to speech</h1>
  <button id="token-button" type="button">API token</button>
</header>
<main>
  <section id="token-panel" class="card" aria-labelledby="token-title" hidden>
    <h2 id="token-title">API token</h2>
    <p id="token-why" class="hint"></p>
    <form id="token-form" class="actions">
      <label for="token-input" class="visually-hidden">API token</label>
      <input id="token-input" type="password" autocomplete="off" spellcheck="false" placeholder="API token" required>
      <button type="submit" class="primary">Save token</button>
      <button id="token-forget" type="button">Forget token</button>
    </form>
    <p class="hint">Kept in this browser only (localStorage) and sent as <code>Authorization: Bearer</code>.</p>
  </section>

  <section class="card" aria-labelledby="compose-title">
    <h2 id="compose-title">New job</h2>
    <form id="job-form">
      <label for="text">Text</label>
      <textarea id="text" rows="6" placeholder="Type or paste the text to speak" aria-describedby="char-count"></textarea>
      <p id="char-count" class="hint" aria-live="polite"></p>
      <div class="row">
        <div><label for="model">Model</label><select id="model"></select></div>
        <div><label for="voice">Voice</label><select id="voice"></select></div>
        <div><label for="format">Format</label><select id="format"></select></div>
      </div>
      <p id="model-description" class="hint"></p>
      <div class="check">
        <input id="ssml" type="checkbox" aria-describedby="ssml-note">
        <label for="ssml">SSML</label>
        <span id="ssml-note" class="hint">the text is SSML: &lt;speak&gt;, &lt;break time="1s"/&gt;, &lt;sub alias&gt;, &lt;say-as&gt;, &lt;phoneme&gt;, &lt;p&gt;, &lt;s&gt;</span>
      </div>
      <div id="lexicon-row">
        <label for="lexicons">Lexicons</label>
        <select id="lexicons" multiple size="3" aria-describedby="lexicons-note"></select>
        <p id="lexicons-note" class="hint">Your pronunciation lexicons (PUT /v1/lexicons/NAME): pick any, applied in the order listed.</p>
      </div>
      <div class="check">
        <input id="timestamps" type="checkbox" aria-describedby="timestamps-note">
        <label for="timestamps">Captions (word timings)</label>
        <span id="timestamps-note" class="hint"></span>
      </div>
      <div class="actions">
        <button id="submit" type="submit" class="primary">Speak</button>
        <p id="message" role="status" aria-live="polite"></p>
      </div>
      <p id="error" role="alert"></p>
    </form>
  </section>

  <section id="job-panel" class="card" aria-labelledby="job-title" hidden>
    <h2 id="job-title">Job <code id="job-id"></code></h2>
    <p><span id="job-status" class="badge" aria-live="polite"></span> <span id="job-detail" class="hint"></span></p>
    <progress id="job-progress" aria-label="Job progress"></progress>
    <audio id="player" controls preload="auto" aria-label="Synthesized audio"></audio>
    <div id="captions" class="captions" role="region" aria-label="Captions: the word being spoken is highlighted; click a word to play from it" hidden></div>
    <div class="actions">
      <a id="download" class="button" href="#" hidden>Download</a>
      <a id="download-captions" class="button" href="#" hidden>Download captions (WebVTT)</a>
    </div>
  </section>

  <section class="card" aria-labelledby="recent-title">
    <div class="actions spread">
      <h2 id="recent-title">Recent jobs</h2>
      <button id="refresh" type="button" class="small">Refresh</button>
    </div>
    <div class="scroll">
      <table id="jobs">
        <thead><tr><th scope="col">Created</th><th scope="col">Status</th><th scope="col">Model</th>
          <th scope="col" class="wide">Voice</th><th scope="col" class="wide">Chars</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p id="no-jobs" class="hint" hidden>No jobs yet.</p>
    <button id="more-jobs" type="button" class="small" hidden>Older jobs</button>
  </section>
</main>
"""
