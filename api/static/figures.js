// Per-partner figures for the overview row and the partner summary, from the analytics API:
// uptime over 24 h and this month (UTC), the month's p95 and the last complete 5-minute
// traffic bucket. Every figure is null when its endpoint is absent (404) or has no data.

import { getJson, has, partnerPath, qs } from "./api.js";
import { monthStartUtc, rfc3339 } from "./format.js";

const BUCKET_MS = 5 * 60 * 1000;

/** Fetch and derive one partner's figures. Windows end "now" by leaving `end` out: the API
 * then ends them at its own now, and an incident still going on comes back open (end null);
 * an explicit end a moment in the past would close it at that end. */
export async function partnerFigures(id, nowMs = Date.now()) {
  const month = rfc3339(monthStartUtc(nowMs));
  const recent = rfc3339(nowMs - 4 * BUCKET_MS);
  const get = (path, suffix) => (has(suffix) ? getJson(partnerPath(id, path)) : Promise.resolve({ data: null }));
  const [day, monthUp, monthUse, now] = await Promise.all([
    get("/uptime", "/uptime"),
    get("/uptime" + qs({ start: month }), "/uptime"),
    get("/usage" + qs({ start: month }), "/usage"),
    get("/usage" + qs({ start: recent, samples: "true" }), "/usage"),
  ]);
  return deriveFigures(day.data, monthUp.data, monthUse.data, now.data, nowMs);
}

export function deriveFigures(day, monthUp, monthUse, now, nowMs) {
  const links = day ? day.links || [] : [];
  const linkIds = new Set(links.map((l) => `${l.switch}/${l.port}`));
  const open = day ? day.incidents.filter((i) => i.end === null) : [];
  return {
    available: day !== null,
    uptime24: day ? day.uptime_pct : null,
    uptimeMonth: monthUp ? monthUp.uptime_pct : null,
    linkUptime24: day ? day.link_uptime_pct : null,
    linksTotal: day ? links.length : null,
    linksDown: day ? open.filter((i) => linkIds.has(i.subject)).length : null,
    linksUnknown: day ? links.filter((l) => l.uptime_pct === null).length : null,
    openIncidents: day ? open.length : null,
    p95In: monthUse ? monthUse.p95_in_bps : null,
    p95Out: monthUse ? monthUse.p95_out_bps : null,
    ...trafficNow(now, nowMs),
  };
}

/** The newest bucket that ended before now: a partial one would under-state the rate. */
function trafficNow(usage, nowMs) {
  const buckets = usage && usage.buckets ? usage.buckets : [];
  const done = buckets.filter((b) => Date.parse(b.start) + BUCKET_MS <= nowMs);
  const last = done.length ? done[done.length - 1] : null;
  return {
    inNow: last ? last.in_bps : null,
    outNow: last ? last.out_bps : null,
    nowBucket: last ? last.start : null,
  };
}

/** Link state for a row: down when a port has an open incident, unknown when never heard. */
export function linkState(f) {
  if (f.linksTotal === null) return "unknown";
  if (f.linksDown > 0) return "offline";
  if (f.linksTotal === 0 || f.linksUnknown === f.linksTotal) return "unknown";
  return "online";
}
