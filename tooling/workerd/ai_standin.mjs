// Dev-only stand-in of the Workers AI binding for `tts-pipeline dev --runtime workerd` (never deployed).
//
// `wrangler dev` proxies a real `[ai]` binding to Cloudflare (a login, the
// network, a bill), so the dev configs bind `AI` to this Worker's `WorkersAi`
// entrypoint instead: `env.AI.run(model, inputs, options)` is an RPC call here,
// offline. It answers the speech models the pipeline offers with the shapes
// Cloudflare documents for the binding:
//
// - `@cf/deepgram/aura-1`, `@cf/deepgram/aura-2-en`: inputs `text` (required),
//   `speaker` (the model's enum), `encoding`, `container`, `sample_rate`,
//   `bit_rate`; the result is a ReadableStream of the audio itself: WAV or raw
//   linear16 (a tone, 60 ms a character), MP3 at 22.05 kHz (silent frames),
//   FLAC/Opus/AAC as bytes of their container's signature (the pipeline stores
//   them as they come).
// - `@cf/myshell-ai/melotts`: inputs `prompt` (required), `lang`; the result is
//   an object `{audio: <base64 MP3>}` (44.1 kHz, silent frames).
//
// Errors are thrown as the binding throws them: an Error whose message starts
// with Workers AI's internal code (platform/errors): 5007 no such model, 5006
// invalid input, 3040 out of capacity (HTTP 429), 3036 daily allocation used
// (429), 3007 timeout. Requests are rate limited per model, as Workers AI's
// limits page says (AI_STANDIN_RATE_LIMIT requests per AI_STANDIN_RATE_PERIOD
// seconds; 720 a minute by default): past it, `3040: ... (429)`.
// Tests script failures through the text: `[[ai-error CODE]]` fails every
// request with that code, `[[ai-error CODE once]]` only the first request
// with that exact text. `fetch` answers GET /__ai with what it was asked.
import { WorkerEntrypoint } from "cloudflare:workers";

const AURA = {
  "@cf/deepgram/aura-1": ["angus", "asteria", "arcas", "orion", "orpheus", "athena", "luna", "zeus", "perseus",
    "helios", "hera", "stella"],
  "@cf/deepgram/aura-2-en": ["amalthea", "andromeda", "apollo", "arcas", "aries", "asteria", "athena", "atlas",
    "aurora", "callista", "cora", "cordelia", "delia", "draco", "electra", "harmonia", "helena", "hera", "hermes",
    "hyperion", "iris", "janus", "juno", "jupiter", "luna", "mars", "minerva", "neptune", "odysseus", "ophelia",
    "orion", "orpheus", "pandora", "phoebe", "pluto", "saturn", "thalia", "theia", "vesta", "zeus"],
};
const MELOTTS = "@cf/myshell-ai/melotts";
const ENCODINGS = ["linear16", "flac", "mulaw", "alaw", "mp3", "opus", "aac"];
const CONTAINERS = ["none", "wav", "ogg"];
const MESSAGES = {
  3006: "Request is too large",
  3007: "Request timeout",
  3036: "You have used up your daily free allocation of 10,000 neurons.",
  3040: "No more data centers to forward the request to",
  5006: "Invalid input",
  5007: "No such model",
};
const STATUS = { 3006: 413, 3007: 408, 3036: 429, 3040: 429, 5006: 400, 5007: 400 };
const SCRIPTED = /\[\[ai-error (\d{4})( once)?\]\]/;

// State of this isolate: what was asked, scripted failures already given, the rate window.
const seen = [];
const failedOnce = new Set();
const windows = new Map();

function aiError(code, detail) {
  const error = new Error(`${code}: ${detail || MESSAGES[code] || "error"} (${STATUS[code] || 500})`);
  error.name = "AiError";
  return error;
}

function rateLimited(model, env) {
  const limit = Number(env.AI_STANDIN_RATE_LIMIT || 720);
  const period = Number(env.AI_STANDIN_RATE_PERIOD || 60) * 1000;
  const now = Date.now();
  const recent = (windows.get(model) || []).filter((t) => now - t < period);
  if (recent.length >= limit) {
    windows.set(model, recent);
    return true;
  }
  recent.push(now);
  windows.set(model, recent);
  return false;
}

// --- audio -------------------------------------------------------------------

function tonePcm(text, rate) {
  const count = Math.max(1, Math.round(text.length * 0.06 * rate));
  const pcm = new Uint8Array(count * 2);
  const view = new DataView(pcm.buffer);
  for (let i = 0; i < count; i++) {
    view.setInt16(i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), true);
  }
  return pcm;
}

function wav(pcm, rate) {
  const out = new Uint8Array(44 + pcm.length);
  const view = new DataView(out.buffer);
  const ascii = (offset, s) => [...s].forEach((c, i) => (out[offset + i] = c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + pcm.length, true);
  ascii(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, pcm.length, true);
  out.set(pcm, 44);
  return out;
}

// Silent mono MP3 at 32 kbps: frames of 104 bytes, a header and zeroed side info and data.
function silentMp3(text, rate) {
  const mpeg1 = rate === 44100;
  const samplesPerFrame = mpeg1 ? 1152 : 576;
  const header = mpeg1 ? [0xff, 0xfb, 0x10, 0xc0] : [0xff, 0xf3, 0x40, 0xc0];
  const frames = Math.max(1, Math.ceil((text.length * 0.06 * rate) / samplesPerFrame));
  const out = new Uint8Array(frames * 104);
  for (let f = 0; f < frames; f++) out.set(header, f * 104);
  return out;
}

function auraAudio(text, encoding, container, sampleRate) {
  const rate = sampleRate || 24000;
  if (encoding === "linear16") {
    const pcm = tonePcm(text, rate);
    return container === "wav" ? wav(pcm, rate) : pcm;
  }
  if (encoding === "mp3") return silentMp3(text, 22050);
  const signature = { flac: "fLaC", opus: "OggS", aac: "\xff\xf1", mulaw: "\x00", alaw: "\x00" }[encoding];
  return new TextEncoder().encode(signature + " ".repeat(64));
}

function stream(bytes) {
  return new ReadableStream({
    start(controller) {
      // In pieces, as audio arrives from the network.
      for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
      controller.close();
    },
  });
}

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(binary);
}

// --- the binding ---------------------------------------------------------------

export class WorkersAi extends WorkerEntrypoint {
  async run(model, inputs, options) {
    inputs = inputs || {};
    seen.push({ model, inputs, options: Object.keys(options || {}) });
    const text = typeof inputs.text === "string" ? inputs.text : typeof inputs.prompt === "string" ? inputs.prompt : "";
    const scripted = SCRIPTED.exec(text);
    if (scripted) {
      const code = Number(scripted[1]);
      const key = `${model}\n${text}`;
      if (!scripted[2] || !failedOnce.has(key)) {
        failedOnce.add(key);
        throw aiError(code);
      }
    }
    if (model !== MELOTTS && !(model in AURA)) throw aiError(5007, `No such model ${model} or task`);
    if (rateLimited(model, this.env)) throw aiError(3040, "Capacity temporarily exceeded, please try again.");
    if (model === MELOTTS) {
      if (typeof inputs.prompt !== "string" || inputs.prompt.length < 1) {
        throw aiError(5006, "Error: required properties at '/' are 'prompt'");
      }
      return { audio: base64(silentMp3(inputs.prompt, 44100)) };
    }
    if (typeof inputs.text !== "string" || inputs.text.length < 1) {
      throw aiError(5006, "Error: required properties at '/' are 'text'");
    }
    if (inputs.speaker !== undefined && !AURA[model].includes(inputs.speaker)) {
      throw aiError(5006, `Error: /speaker must be equal to one of the allowed values`);
    }
    const encoding = inputs.encoding || "mp3";
    const container = inputs.container || "none";
    if (!ENCODINGS.includes(encoding) || !CONTAINERS.includes(container)) {
      throw aiError(5006, "Error: /encoding or /container must be equal to one of the allowed values");
    }
    if (inputs.text.length > 2000) throw aiError(3006, "Text is longer than 2000 characters");
    return stream(auraAudio(inputs.text, encoding, container, inputs.sample_rate));
  }
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/__ai") return Response.json({ seen });
    return new Response("Workers AI stand-in (dev only)", { status: 404 });
  },
};
