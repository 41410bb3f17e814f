// The network overview: one row per partner, worst first unless the operator sorts otherwise.
// Device counts come from the live feed (seconds); uptime, links, traffic and incidents from
// the analytics API (refreshed every 30 s). Headers are buttons: keyboard-sortable, aria-sort.

import { partnerFigures, linkState } from "./figures.js";
import { DASH, bps, el, pct, statusBadge } from "./format.js";

const COLUMNS = [
  { key: "severity", label: "State", title: "Worst first: links down, devices offline, open incidents, lowest uptime" },
  { key: "name", label: "Partner" },
  { key: "online", label: "Devices online", num: true },
  { key: "uptime24", label: "Uptime 24 h", num: true },
  { key: "uptimeMonth", label: "Uptime this month", num: true },
  { key: "links", label: "Fibre links" },
  { key: "inNow", label: "Traffic in now", num: true },
  { key: "outNow", label: "Traffic out now", num: true },
  { key: "p95In", label: "p95 in (month)", num: true },
  { key: "p95Out", label: "p95 out (month)", num: true },
  { key: "openIncidents", label: "Open incidents", num: true },
];

export class Overview {
  constructor(table, { onError }) {
    this.table = table;
    this.onError = onError;
    this.partners = new Map(); // id -> {id, name, devices, online, offline}
    this.figures = new Map(); // id -> figures (figures.js)
    this.sort = { key: "severity", dir: "desc" };
    this.renderHead();
  }

  renderHead() {
    const row = el("tr");
    for (const col of COLUMNS) {
      const button = el("button", { type: "button", title: col.title || `Sort by ${col.label}` }, col.label);
      button.addEventListener("click", () => this.sortBy(col.key));
      row.append(el("th", { scope: "col", className: col.num ? "num" : "", dataset: { col: col.key } }, button));
    }
    this.table.tHead.replaceChildren(row);
    this.updateSortMarks();
  }

  sortBy(key) {
    if (this.sort.key === key) this.sort.dir = this.sort.dir === "asc" ? "desc" : "asc";
    else this.sort = { key, dir: key === "severity" ? "desc" : "asc" };
    this.updateSortMarks();
    this.renderBody();
  }

  updateSortMarks() {
    for (const th of this.table.tHead.querySelectorAll("th")) {
      const active = th.dataset.col === this.sort.key;
      th.setAttribute("aria-sort", active ? (this.sort.dir === "asc" ? "ascending" : "descending") : "none");
    }
  }

  /** Device states from /api/v1/live. */
  setLive(live) {
    const seen = new Set();
    for (const p of live.partners) {
      seen.add(p.id);
      this.partners.set(p.id, {
        id: p.id,
        name: p.name,
        devices: p.devices.length,
        online: p.devices_online,
        offline: p.devices.filter((d) => d.status === "offline").length,
      });
    }
    for (const id of [...this.partners.keys()]) if (!seen.has(id)) this.partners.delete(id);
    this.renderBody();
  }

  /** Re-fetch every partner's analytics figures (in parallel). */
  async refreshFigures() {
    const nowMs = Date.now();
    const ids = [...this.partners.keys()];
    const results = await Promise.allSettled(ids.map((id) => partnerFigures(id, nowMs)));
    results.forEach((r, i) => {
      if (r.status === "fulfilled") this.figures.set(ids[i], r.value);
      else this.onError(r.reason);
    });
    this.table.dataset.figuresAt = String(nowMs);
    this.renderBody();
  }

  rows() {
    return [...this.partners.values()].map((p) => {
      const f = this.figures.get(p.id) || null;
      const linksDown = f && f.linksDown !== null ? f.linksDown : 0;
      const open = f && f.openIncidents !== null ? f.openIncidents : 0;
      const up = f && f.uptime24 !== null ? f.uptime24 : 100;
      const severity = linksDown * 1e6 + p.offline * 1e3 + open * 10 + (100 - up) / 100;
      let state = "online";
      if (linksDown > 0 || (p.devices > 0 && p.offline === p.devices)) state = "offline";
      else if (p.offline > 0 || open > 0) state = "degraded";
      else if (p.devices > 0 && p.online === 0) state = "unknown";
      return { ...p, f, severity, state };
    });
  }

  sortValue(row, key) {
    const f = row.f || {};
    switch (key) {
      case "severity": return row.severity;
      case "name": return row.name.toLowerCase();
      case "online": return row.devices ? row.online / row.devices : -1;
      case "links": return f.linksDown ?? -1;
      default: return f[key] ?? null;
    }
  }

  renderBody() {
    const { key, dir } = this.sort;
    const sign = dir === "asc" ? 1 : -1;
    const rows = this.rows().sort((a, b) => {
      const va = this.sortValue(a, key);
      const vb = this.sortValue(b, key);
      if (va === vb) return a.name.localeCompare(b.name);
      if (va === null) return 1; // unknown values last, either direction
      if (vb === null) return -1;
      return (va < vb ? -1 : 1) * sign;
    });
    this.table.tBodies[0].replaceChildren(...rows.map((row) => this.renderRow(row)));
  }

  renderRow(row) {
    const f = row.f;
    const stateText = { online: "ok", offline: "down", degraded: "degraded", unknown: "unknown" }[row.state];
    const tr = el("tr", { className: row.state === "offline" ? "row-bad" : row.state === "degraded" ? "row-degraded" : "", dataset: { partner: row.id } });
    const link = el("a", { href: `#/partners/${encodeURIComponent(row.id)}` }, row.name);
    const devicesState = row.offline > 0 ? "offline" : row.online === row.devices && row.devices > 0 ? "online" : "unknown";
    const cells = [
      cell("severity", row.severity, statusBadge(row.state === "degraded" ? "degraded" : row.state, stateText)),
      el("th", { scope: "row", dataset: { col: "name", value: row.id } }, link, el("span", { className: "sub" }, row.id)),
      cell("online", `${row.online}/${row.devices}`, statusBadge(devicesState, `${row.online} / ${row.devices}`), true),
      cell("uptime24", f ? f.uptime24 : null, f ? pct(f.uptime24) : DASH, true),
      cell("uptimeMonth", f ? f.uptimeMonth : null, f ? pct(f.uptimeMonth) : DASH, true),
      cell("links", f ? `${f.linksDown}/${f.linksTotal}` : null, f ? linksBadge(f) : DASH),
      cell("inNow", f ? f.inNow : null, f ? bps(f.inNow) : DASH, true),
      cell("outNow", f ? f.outNow : null, f ? bps(f.outNow) : DASH, true),
      cell("p95In", f ? f.p95In : null, f ? bps(f.p95In) : DASH, true),
      cell("p95Out", f ? f.p95Out : null, f ? bps(f.p95Out) : DASH, true),
      cell("openIncidents", f ? f.openIncidents : null, f && f.openIncidents !== null ? String(f.openIncidents) : DASH, true),
    ];
    tr.append(...cells);
    return tr;
  }
}

function cell(col, value, content, num = false) {
  return el("td", { className: num ? "num" : "", dataset: { col, value: value === null || value === undefined ? "" : String(value) } }, content);
}

function linksBadge(f) {
  const state = linkState(f);
  if (f.linksTotal === null) return DASH;
  if (f.linksTotal === 0) return "no ports";
  const text = state === "offline" ? `${f.linksDown} of ${f.linksTotal} down` : state === "unknown" ? `${f.linksTotal} not reporting` : `${f.linksTotal} up`;
  return statusBadge(state, text);
}
