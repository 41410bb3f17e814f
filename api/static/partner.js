// A partner's page: summary, live device grid (and devices shared with a partner), incidents
// timeline with causes and maintenance shaded, traffic with the p95 line, a telemetry chart for
// any device and metric over a chosen range, and the rejected messages with reason and excerpt.

import { getJson, has, partnerPath, qs } from "./api.js";
import { timeChart, incidentTimeline, causeSwatches, dispose } from "./charts.js";
import { partnerFigures, linkState } from "./figures.js";
import { DASH, ago, bps, bytes as bytesText, count, dateTime, duration, el, monthStartUtc, pct, rfc3339, statusBadge, zoneName } from "./format.js";

const HOUR = 3600 * 1000;
const WINDOWS = { "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR, month: null };
const RANGES = { "1h": HOUR, "6h": 6 * HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR };
// Common metric names by device kind, offered as suggestions; any metric name can be typed.
const METRICS = {
  temperature: ["temperature", "humidity"],
  "air-quality": ["pm25", "no2"],
  "water-level": ["level_m"],
  "energy-meter": ["power_kw", "energy_kwh"],
  footfall: ["count"],
  occupancy: ["occupancy_pct"],
  noise: ["laeq_db"],
  vibration: ["ppv_mm_s"],
};

export class PartnerPage {
  constructor(section, { onError }) {
    this.section = section;
    this.onError = onError;
    this.id = null;
    this.live = null;
    this.window = "24h";
  }

  show(id) {
    if (this.id === id) return;
    this.id = id;
    this.telemetryLoaded = false;
    this.build();
  }

  hide() {
    this.id = null;
    for (const c of this.section.querySelectorAll(".chart")) dispose(c);
  }

  build() {
    const id = this.id;
    const windowSelect = el("select", { id: "window", attrs: { "aria-describedby": "window-hint" } },
      ...[["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["month", "this month (UTC)"]]
        .map(([v, t]) => el("option", { value: v, selected: v === this.window }, t)));
    windowSelect.addEventListener("change", () => { this.window = windowSelect.value; this.refresh(); });

    this.summary = el("dl", { className: "summary", attrs: { "aria-label": "Partner summary" } });
    this.grid = el("ul", { className: "devices", id: "device-grid", attrs: { "aria-label": "Devices" } });
    this.sharedGrid = el("ul", { className: "devices", id: "shared-grid", attrs: { "aria-label": "Devices shared with you" } });
    this.sharedPanel = el("section", { className: "panel", hidden: true, attrs: { "aria-labelledby": "shared-title" } },
      el("h2", { id: "shared-title" }, "Shared with you"),
      el("p", { className: "hint" }, "Devices of other partners shared with you (read-only)."), this.sharedGrid);
    this.timeline = el("div", { id: "timeline" });
    this.incidentTable = el("table", { className: "grid-table", id: "incidents" });
    this.traffic = el("div", { className: "chart", id: "traffic-chart", attrs: { role: "img", "aria-label": "Traffic in and out with the 95th percentile" } });
    this.trafficNote = el("p", { className: "hint", id: "traffic-note" });
    this.rejected = el("table", { className: "grid-table", id: "rejected" });

    // telemetry picker
    this.deviceSelect = el("select", { id: "tm-device" });
    this.metricInput = el("input", { id: "tm-metric", attrs: { list: "tm-metrics", spellcheck: "false", autocomplete: "off" }, required: true });
    this.metricList = el("datalist", { id: "tm-metrics" });
    this.rangeSelect = el("select", { id: "tm-range" },
      ...[["1h", "last hour"], ["6h", "last 6 hours"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["custom", "custom…"]]
        .map(([v, t]) => el("option", { value: v, selected: v === "6h" }, t)));
    this.customStart = el("input", { type: "datetime-local", id: "tm-start" });
    this.customEnd = el("input", { type: "datetime-local", id: "tm-end" });
    const customBox = el("span", { className: "controls-row", hidden: true },
      el("label", {}, "From", this.customStart), el("label", {}, "To", this.customEnd));
    this.rangeSelect.addEventListener("change", () => { customBox.hidden = this.rangeSelect.value !== "custom"; });
    this.deviceSelect.addEventListener("change", () => this.suggestMetrics(true));
    const form = el("form", { className: "controls-row", id: "tm-form" },
      el("label", {}, "Device", this.deviceSelect),
      el("label", {}, "Metric", this.metricInput, this.metricList),
      el("label", {}, "Range", this.rangeSelect),
      customBox,
      el("button", { type: "submit" }, "Show"));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.loadTelemetry(); });
    this.telemetry = el("div", { className: "chart", id: "telemetry-chart", attrs: { role: "img", "aria-label": "Telemetry chart" } });
    this.telemetryNote = el("p", { className: "hint", id: "telemetry-note", attrs: { "aria-live": "polite" } });

    const title = el("h1", { id: "partner-title" }, id);
    this.title = title;
    const refresh = el("button", { type: "button", id: "refresh-partner" }, "Refresh figures");
    refresh.addEventListener("click", () => this.refresh());
    this.section.replaceChildren(
      el("p", {}, el("a", { href: "#/" }, "← Network overview")),
      el("div", { className: "section-head" }, title, el("label", { className: "hint" }, "Window ", windowSelect), refresh),
      el("p", { className: "hint", id: "window-hint" }, `Times in ${zoneName}. Live device states; figures refresh every 30 s.`),
      el("p", {}, el("a", { href: `#/partners/${encodeURIComponent(id)}/access-log`, id: "access-log-link" }, "Who read this data (access log)")),
      el("section", { className: "panel", attrs: { "aria-label": "Summary" } }, this.summary),
      el("section", { className: "panel", attrs: { "aria-labelledby": "devices-title" } },
        el("h2", { id: "devices-title" }, "Devices"),
        el("p", { className: "hint" }, "Select a device to chart its telemetry."), this.grid),
      this.sharedPanel,
      el("section", { className: "panel", attrs: { "aria-labelledby": "incidents-title" } },
        el("h2", { id: "incidents-title" }, "Incidents"), causeSwatches(), this.timeline,
        el("details", {}, el("summary", {}, "Incidents as a table"), this.incidentTable)),
      el("div", { className: "columns" },
        el("section", { className: "panel", attrs: { "aria-labelledby": "traffic-title" } },
          el("h2", { id: "traffic-title" }, "Fibre traffic (5-minute rates)"), this.traffic, this.trafficNote),
        el("section", { className: "panel", attrs: { "aria-labelledby": "telemetry-title" } },
          el("h2", { id: "telemetry-title" }, "Telemetry"), form, this.telemetry, this.telemetryNote)),
      el("section", { className: "panel", attrs: { "aria-labelledby": "rejected-title" } },
        el("h2", { id: "rejected-title" }, "Rejected messages"),
        el("p", { className: "hint" }, "What the platform refused from this partner's devices, newest first, and why."),
        el("div", { className: "table-wrap" }, this.rejected)),
    );
    this.refreshedFor = null;
    if (this.live) this.setLive(this.live);
  }

  /** Whether the current token may see this partner: known once the live feed answered. */
  visible() {
    return Boolean(this.live && this.live.partners.some((p) => p.id === this.id));
  }

  windowRange(nowMs) {
    const span = WINDOWS[this.window];
    return { startMs: span === null ? monthStartUtc(nowMs) : nowMs - span, endMs: nowMs };
  }

  /** Live device states (from /api/v1/live): the grid, the shared devices, the device picker. */
  setLive(live) {
    this.live = live;
    if (!this.id) return;
    const partner = live.partners.find((p) => p.id === this.id);
    if (!partner) {
      this.grid.replaceChildren(el("li", { className: "notice", id: "not-visible" }, "This partner is not visible to this token."));
      return;
    }
    this.title.textContent = partner.name;
    this.partnerName = partner.name;
    const now = Date.now();
    this.grid.replaceChildren(...partner.devices.map((d) => this.tile(this.id, d, now)));
    const shared = live.shared || [];
    this.sharedPanel.hidden = shared.length === 0;
    this.sharedGrid.replaceChildren(...shared.map((d) => this.tile(d.partner, d, now, true)));
    this.fillDevices(partner.devices, shared);
    this.section.dataset.online = String(partner.devices_online);
    if (this.refreshedFor !== this.id) {
      this.refreshedFor = this.id;
      this.refresh();
    }
  }

  tile(owner, d, now, shared = false) {
    const key = `${owner}/${d.id}`;
    const button = el("button", {
      type: "button", className: "tile",
      dataset: { device: d.id, partner: owner, status: d.status },
      attrs: { "aria-pressed": String(this.deviceSelect.value === key), "aria-label": `${d.id}${shared ? ` of ${owner}` : ""}: ${d.status}, last seen ${ago(d.last_seen, now)}` },
    },
    el("span", { className: "name" }, d.id),
    statusBadge(d.status),
    el("span", { className: "meta" }, `${d.kind}${shared ? ` · ${owner}` : ""}`),
    el("span", { className: "meta", title: d.last_seen ? dateTime(d.last_seen) : "never" }, `last seen ${ago(d.last_seen, now)}`));
    button.addEventListener("click", () => {
      this.deviceSelect.value = key;
      this.suggestMetrics(true);
      this.loadTelemetry();
    });
    return el("li", {}, button);
  }

  fillDevices(own, shared) {
    const current = this.deviceSelect.value;
    const options = [
      ...own.map((d) => ({ key: `${this.id}/${d.id}`, label: d.id, kind: d.kind })),
      ...shared.map((d) => ({ key: `${d.partner}/${d.id}`, label: `${d.id} (shared by ${d.partner})`, kind: d.kind })),
    ];
    const signature = options.map((o) => o.key).join(",");
    if (signature !== this.deviceSignature) {
      this.deviceSignature = signature;
      this.kinds = new Map(options.map((o) => [o.key, o.kind]));
      this.deviceSelect.replaceChildren(...options.map((o) => el("option", { value: o.key }, o.label)));
      if (options.some((o) => o.key === current)) this.deviceSelect.value = current;
      this.suggestMetrics(false);
    }
    if (!this.telemetryLoaded && options.length) {
      this.telemetryLoaded = true;
      this.loadTelemetry();
    }
  }

  suggestMetrics(replace) {
    const kind = this.kinds ? this.kinds.get(this.deviceSelect.value) : null;
    const names = METRICS[kind] || [];
    this.metricList.replaceChildren(...names.map((n) => el("option", { value: n })));
    if ((replace || !this.metricInput.value) && names.length) this.metricInput.value = names[0];
  }

  /** All analytics of the page, in parallel; each part copes with its endpoint missing. */
  async refresh() {
    if (!this.id || !this.visible()) return;
    const id = this.id;
    const nowMs = Date.now();
    const { startMs, endMs } = this.windowRange(nowMs);
    // Every window here ends now: leave `end` to the API, so open incidents stay open.
    const window = { start: rfc3339(startMs) };
    const get = (path, suffix) => (has(suffix) ? getJson(partnerPath(id, path)) : Promise.resolve({ data: null }));
    const jobs = [
      partnerFigures(id, nowMs).then((f) => this.renderSummary(f)),
      get("/uptime" + qs(window), "/uptime").then((r) => this.renderIncidents(r.data, startMs, endMs, nowMs)),
      get("/usage" + qs({ ...window, samples: "true" }), "/usage").then((r) => this.renderTraffic(r.data)),
      get("/rejected" + qs({ ...window, limit: 50 }), "/rejected").then((r) => this.renderRejected(r.data)),
    ];
    for (const result of await Promise.allSettled(jobs)) {
      if (result.status === "rejected") this.onError(result.reason);
    }
    if (this.id === id) this.section.dataset.figuresAt = String(nowMs);
  }

  renderSummary(f) {
    const items = [
      ["Uptime 24 h", pct(f.uptime24), "uptime24", f.uptime24],
      ["Uptime this month", pct(f.uptimeMonth), "uptimeMonth", f.uptimeMonth],
      ["Link uptime 24 h", pct(f.linkUptime24), "linkUptime24", f.linkUptime24],
      ["Fibre links", f.linksTotal === null ? DASH : `${f.linksTotal - f.linksDown} of ${f.linksTotal} up`, "links", linkState(f)],
      ["Traffic in / out now", `${bps(f.inNow)} / ${bps(f.outNow)}`, "now", f.inNow],
      ["p95 in / out (month)", `${bps(f.p95In)} / ${bps(f.p95Out)}`, "p95", f.p95In],
      ["Open incidents", f.openIncidents === null ? DASH : String(f.openIncidents), "openIncidents", f.openIncidents],
    ];
    this.summary.title = f.available ? "" : "Uptime and usage are not available from this API yet";
    this.summary.replaceChildren(...items.map(([label, text, key, value]) =>
      el("div", { dataset: { key, value: value === null || value === undefined ? "" : String(value) } }, el("dt", {}, label), el("dd", {}, text))));
  }

  renderIncidents(uptime, startMs, endMs, nowMs) {
    if (!uptime) {
      this.timeline.replaceChildren(el("p", { className: "notice" }, "Incidents are not available from this API yet."));
      this.incidentTable.replaceChildren();
      return;
    }
    incidentTimeline(this.timeline, { startMs, endMs, incidents: uptime.incidents, unknown: uptime.unknown || [], nowMs });
    const head = el("tr", {}, ...["Subject", "Cause", "Start", "End", "Duration"].map((h) => el("th", { scope: "col" }, h)));
    const rows = [...uptime.incidents].reverse().map((i) => el("tr", { dataset: { cause: i.cause, open: String(i.end === null) } },
      el("td", {}, i.subject), el("td", {}, i.cause), el("td", {}, dateTime(i.start)),
      el("td", {}, i.end ? dateTime(i.end) : statusBadge("offline", "ongoing")), el("td", { className: "num" }, duration(i.duration_s))));
    this.incidentTable.replaceChildren(el("caption", { className: "sr-only" }, "Incidents in the window"), el("thead", {}, head),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { attrs: { colspan: "5" } }, "No incidents in this window."))])));
  }

  renderTraffic(usage) {
    if (!usage) {
      dispose(this.traffic);
      this.traffic.replaceChildren(el("p", { className: "empty" }, "Traffic is not available from this API yet."));
      this.trafficNote.textContent = "";
      return;
    }
    const buckets = usage.buckets || [];
    const xs = buckets.map((b) => Date.parse(b.start) / 1000);
    const flat = (v) => buckets.map(() => v);
    const series = [
      { label: "in", stroke: "#0072b2", values: buckets.map((b) => b.in_bps) },
      { label: "out", stroke: "#d55e00", values: buckets.map((b) => b.out_bps) },
    ];
    if (usage.p95_in_bps !== null) series.push({ label: "p95 in", stroke: "#0072b2", dash: [8, 5], width: 1.5, values: flat(usage.p95_in_bps) });
    if (usage.p95_out_bps !== null) series.push({ label: "p95 out", stroke: "#d55e00", dash: [2, 4], width: 1.5, values: flat(usage.p95_out_bps) });
    timeChart(this.traffic, { xs, series, yFormat: bps, xRange: [Date.parse(usage.start) / 1000, Date.parse(usage.end) / 1000], emptyText: "No counter samples in this window yet." });
    this.trafficNote.textContent = `In ${bytesText(usage.bytes_in)}, out ${bytesText(usage.bytes_out)} in the window; p95 in ${bps(usage.p95_in_bps)}, out ${bps(usage.p95_out_bps)} over ${buckets.length} five-minute buckets. MQTT: ${count(usage.messages)} messages, ${count(usage.rejected)} rejected.`;
  }

  renderRejected(rows) {
    if (rows === null) {
      this.rejected.replaceChildren(el("caption", {}, "The rejected-messages list is not available from this API yet."));
      return;
    }
    const head = el("tr", {}, ...["Time", "Reason", "Topic", "Excerpt"].map((h) => el("th", { scope: "col" }, h)));
    const body = rows.map((r) => el("tr", { dataset: { reason: r.reason } },
      el("td", {}, dateTime(r.time)), el("td", {}, el("strong", {}, r.reason), r.detail ? el("span", { className: "sub" }, r.detail) : null),
      el("td", {}, el("code", {}, r.topic || DASH)), el("td", {}, el("code", {}, r.excerpt || DASH))));
    this.rejected.replaceChildren(el("caption", { className: "sr-only" }, "Rejected messages, newest first"), el("thead", {}, head),
      el("tbody", {}, ...(body.length ? body : [el("tr", {}, el("td", { attrs: { colspan: "4" } }, "Nothing rejected in this window."))])));
  }

  async loadTelemetry() {
    const key = this.deviceSelect.value;
    const metric = this.metricInput.value.trim();
    if (!key || !metric) return;
    const [owner, device] = [key.slice(0, key.indexOf("/")), key.slice(key.indexOf("/") + 1)];
    const nowMs = Date.now();
    let startMs = nowMs - (RANGES[this.rangeSelect.value] || 6 * HOUR);
    let endMs = nowMs;
    if (this.rangeSelect.value === "custom") {
      startMs = Date.parse(this.customStart.value);
      endMs = Date.parse(this.customEnd.value);
      if (!(startMs < endMs)) {
        this.telemetryNote.textContent = "Choose a start before the end.";
        return;
      }
    }
    const every = bucketFor(endMs - startMs);
    const path = partnerPath(owner, `/devices/${encodeURIComponent(device)}/telemetry` + qs({ metric, start: rfc3339(startMs), end: rfc3339(endMs), every }));
    for (const b of this.section.querySelectorAll(".tile")) b.setAttribute("aria-pressed", String(`${b.dataset.partner}/${b.dataset.device}` === key));
    try {
      const { data } = await getJson(path);
      if (!data) throw new Error("no such device");
      const xs = data.points.map(([t]) => Date.parse(t) / 1000);
      timeChart(this.telemetry, { xs, series: [{ label: metric, stroke: "#0072b2", values: data.points.map(([, v]) => v) }], yFormat: (v) => String(+v.toFixed(3)), xRange: [startMs / 1000, endMs / 1000], emptyText: `No ${metric} from ${device} in this range.` });
      this.telemetryNote.textContent = `${device} · ${metric} · ${every ? `mean per ${every}` : "raw points"} · ${data.points.length} points${data.truncated ? " (truncated: narrow the range)" : ""}`;
      this.telemetry.dataset.points = String(data.points.length);
    } catch (err) {
      this.telemetryNote.textContent = `Could not load telemetry: ${err.message}`;
    }
  }
}

/** Raw points up to 24 h, else a mean per bucket that keeps the chart near 700–2000 points. */
function bucketFor(spanMs) {
  if (spanMs <= 24 * HOUR) return null;
  for (const [every, ms] of [["5m", 5 * 60e3], ["15m", 15 * 60e3], ["1h", HOUR], ["6h", 6 * HOUR], ["1d", 24 * HOUR]]) {
    if (spanMs / ms <= 2000) return every;
  }
  return "1d";
}
