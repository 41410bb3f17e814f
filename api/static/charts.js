// Charts: uPlot (vendored from npm with its licence, vendor/uplot/) for time series, and a
// plain-DOM incidents timeline. Each chart fills its container's width and follows resizes.

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { el, shortTime, dateTime, duration } from "./format.js";

const charts = new WeakMap(); // container -> {plot, observer}

/** Draw (or redraw) a time series chart. xs in epoch seconds; series: {label, stroke, dash, values}. */
export function timeChart(container, { xs, series, yFormat, xRange = null, height = 260, emptyText = "No data in this range." }) {
  dispose(container);
  if (!xs.length) {
    container.replaceChildren(el("p", { className: "empty" }, emptyText));
    return;
  }
  container.replaceChildren();
  const opts = {
    width: Math.max(container.clientWidth, 300),
    height,
    // The requested range, not the data's: one point must not stretch over years.
    scales: { x: xRange ? { time: true, range: () => xRange } : { time: true } },
    axes: [
      {},
      { values: (_u, ticks) => ticks.map((v) => yFormat(v)), size: 90 },
    ],
    series: [
      { value: (_u, v) => (v === null ? "—" : dateTime(new Date(v * 1000).toISOString())) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.width || 2,
        dash: s.dash,
        points: { show: xs.length < 8 },
        value: (_u, v) => (v === null || v === undefined ? "—" : yFormat(v)),
      })),
    ],
    legend: { live: true },
  };
  const plot = new uPlot(opts, [xs, ...series.map((s) => s.values)], container);
  const observer = new ResizeObserver(() => {
    const width = Math.max(container.clientWidth, 300);
    if (Math.abs(width - plot.width) > 2) plot.setSize({ width, height });
  });
  observer.observe(container);
  charts.set(container, { plot, observer });
}

export function dispose(container) {
  const old = charts.get(container);
  if (old) {
    old.observer.disconnect();
    old.plot.destroy();
    charts.delete(container);
  }
}

const CAUSES = {
  offline: "offline (the device said so)",
  timeout: "timeout (went silent)",
  link: "link (its fibre port was down)",
};

/**
 * The incidents timeline: one track per subject with incidents, bars coloured *and*
 * patterned by cause, maintenance windows and platform gaps shaded across all tracks.
 */
export function incidentTimeline(container, { startMs, endMs, incidents, unknown, nowMs }) {
  const span = Math.max(endMs - startMs, 1);
  const pos = (ms) => `${(100 * (Math.min(Math.max(ms, startMs), endMs) - startMs)) / span}%`;
  const width = (a, b) => `${(100 * (Math.min(b, endMs) - Math.max(a, startMs))) / span}%`;
  const bySubject = new Map();
  for (const inc of incidents) {
    if (!bySubject.has(inc.subject)) bySubject.set(inc.subject, []);
    bySubject.get(inc.subject).push(inc);
  }
  const rows = [];
  for (const [subject, list] of [...bySubject.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const track = el("div", { className: "track" });
    for (const inc of list) {
      const s = Date.parse(inc.start);
      const e = inc.end ? Date.parse(inc.end) : nowMs;
      const label = `${subject}: ${CAUSES[inc.cause] || inc.cause}, ${dateTime(inc.start)} – ${inc.end ? dateTime(inc.end) : "ongoing"} (${duration(inc.duration_s)})`;
      track.append(el("span", {
        className: `bar cause-${inc.cause}${inc.end ? "" : " open"}`,
        title: label,
        attrs: { role: "img", "aria-label": label },
        style: { left: pos(s), width: width(s, e) },
      }));
    }
    rows.push(el("div", { className: "row" }, el("span", { className: "subject", title: subject }, subject), track));
  }
  const shades = el("div", { className: "shades", attrs: { "aria-hidden": "true" } });
  for (const u of unknown) {
    const s = Date.parse(u.start);
    const e = u.end ? Date.parse(u.end) : nowMs;
    if (e <= startMs || s >= endMs) continue;
    shades.append(el("span", {
      className: `shade ${u.reason === "maintenance" ? "maintenance" : "platform"}`,
      title: `${u.reason === "maintenance" ? "maintenance window" : "platform outage (not counted)"}: ${dateTime(u.start)} – ${dateTime(u.end)}`,
      style: { left: pos(s), width: width(s, e) },
    }));
  }
  const body = rows.length
    ? rows
    : [el("div", { className: "row" }, el("span", { className: "subject" }, "all devices and links"), el("div", { className: "track" }))];
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el("span", {}, shortTime(startMs + f * span)));
  const wrap = el("div", { className: "timeline", dataset: { incidents: String(incidents.length) } }, ...body, el("div", { className: "axis" }, ...ticks));
  // Shades span the tracks only: placed over the track column.
  shades.style.left = "calc(min(14rem, max(8rem, 20%)) + 0.5rem)";
  wrap.append(shades);
  container.replaceChildren(wrap);
}

export const causeSwatches = () =>
  el("ul", { className: "swatches", attrs: { "aria-label": "Timeline legend" } },
    ...[
      ["timeline-offline", "offline: the device said so", "bar cause-offline"],
      ["timeline-timeout", "timeout: went silent", "bar cause-timeout"],
      ["timeline-link", "link: its fibre port was down", "bar cause-link"],
      ["timeline-maint", "maintenance (not counted)", "shade maintenance"],
      ["timeline-platform", "platform outage (not counted)", "shade platform"],
    ].map(([id, text, cls]) => el("li", { id }, el("span", { className: `swatch ${cls}`, style: { position: "relative" } }), text)));
