// Dev-only front Worker of `tts-pipeline dev --runtime workerd` (never deployed).
//
// `wrangler dev` with several configs serves only the first one, and a
// Worker's cron handler is triggered only on its own Worker. This one is
// served on the port, passes every request to the api Worker unchanged, and
// answers `GET /__scheduled` by running the reaper's cron handler, as the
// local runtime does. SCHEDULED_ROUTE is "off" unless the server listens on
// loopback only.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/__scheduled") {
      return env.API.fetch(request);
    }
    if (env.SCHEDULED_ROUTE !== "on") {
      return Response.json(
        { error: { code: "not_found", message: "/__scheduled is served on loopback only" } },
        { status: 404 },
      );
    }
    const cron = url.searchParams.get("cron") || env.REAPER_CRON;
    const result = await env.REAPER.scheduled({ cron, scheduledTime: new Date() });
    const ok = result.outcome === "ok";
    return Response.json(
      { outcome: result.outcome, noRetry: result.noRetry, cron },
      { status: ok ? 200 : 500 },
    );
  },
};
