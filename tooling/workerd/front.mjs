// Dev-only front Worker of `tts-pipeline dev --runtime workerd` (never deployed).
//
// `wrangler dev` with several configs serves only the first one, and a
// Worker's cron handler is triggered only on its own Worker. This one is
// served on the port, passes every request to the api Worker unchanged, and
// answers `GET /__scheduled` by running the reaper's cron handler, as the
// local runtime does. Like there, once API_TOKENS is set the route needs a
// token: the api Worker decides (an authenticated route that does no I/O is
// asked with the caller's Authorization header), so the rule stays in one place.
// Its own cron handler passes wrangler's `/cdn-cgi/local/scheduled` (what the
// runner's CRON_INTERVAL_SECONDS loop calls) to the reaper.
const AUTH_PROBE = "/v1/webhooks/secret";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/__scheduled") {
      return env.API.fetch(request);
    }
    const probe = await env.API.fetch(new URL(AUTH_PROBE, url), {
      headers: { authorization: request.headers.get("authorization") ?? "" },
    });
    if (probe.status === 401) {
      return probe;
    }
    await probe.body?.cancel();
    const cron = url.searchParams.get("cron") || env.REAPER_CRON;
    const result = await env.REAPER.scheduled({ cron, scheduledTime: new Date() });
    return Response.json(
      { outcome: result.outcome, noRetry: result.noRetry, cron },
      { status: result.outcome === "ok" ? 200 : 500 },
    );
  },

  async scheduled(controller, env) {
    const result = await env.REAPER.scheduled({
      cron: controller.cron || env.REAPER_CRON,
      scheduledTime: new Date(controller.scheduledTime),
    });
    if (result.outcome !== "ok") {
      throw new Error(`reaper run ended ${result.outcome}`);
    }
  },
};
