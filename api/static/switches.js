// The SNMP collector's health per switch (operators only: GET /api/v1/network/switches answers
// 403 to a partner token, and the page never asks for it then). Unreachable switches first:
// their ports' time is unknown in link uptime while the collector cannot see them.

import { DASH, ago, dateTime, el, statusBadge } from "./format.js";
import { getJson, has } from "./api.js";

const COLUMNS = [
  ["state", "Collector"],
  ["switch", "Switch"],
  ["ports", "Ports", true],
  ["lastPoll", "Last good poll"],
  ["latency", "Latency", true],
  ["lastReport", "Last report"],
  ["error", "Last error"],
  ["lastCounters", "Newest counters"],
  ["speed", "Speed vs registry"],
];

export class SwitchesTable {
  constructor(section, table) {
    this.section = section;
    this.table = table;
    const row = el("tr");
    for (const [key, label, num] of COLUMNS) {
      row.append(el("th", { scope: "col", className: num ? "num" : "", dataset: { col: key } }, label));
    }
    this.table.tHead.replaceChildren(row);
  }

  /** Fetch and render; the section shows only for an operator and an API that has the path. */
  async refresh(viewer) {
    if (!viewer || viewer.role !== "operator" || !has("/network/switches")) {
      this.clear();
      return;
    }
    const { data } = await getJson("/api/v1/network/switches");
    if (!data) {
      this.clear();
      return;
    }
    const nowMs = Date.now();
    const order = (s) => (s.reachable === false ? 0 : s.reachable === null ? 1 : 2);
    const rows = [...data].sort((a, b) => order(a) - order(b) || a.switch.localeCompare(b.switch));
    this.table.tBodies[0].replaceChildren(...rows.map((s) => this.renderRow(s, nowMs)));
    this.table.dataset.refreshedAt = String(nowMs);
    this.section.hidden = data.length === 0;
  }

  clear() {
    this.section.hidden = true;
    this.table.tBodies[0].replaceChildren();
    delete this.table.dataset.refreshedAt;
  }

  renderRow(s, nowMs) {
    const state = s.reachable === null ? "unknown" : s.reachable ? "online" : "offline";
    const stateText = s.reachable === null ? "no report yet" : s.reachable ? "reachable" : "unreachable";
    const when = (iso) => (iso ? el("time", { dateTime: iso, title: dateTime(iso) }, ago(iso, nowMs)) : DASH);
    const value = (v) => (v === null || v === undefined ? "" : String(v));
    const cells = [
      el("td", { dataset: { col: "state", value: value(s.reachable) } }, statusBadge(state, stateText)),
      el("th", { scope: "row", dataset: { col: "switch", value: s.switch } }, s.switch,
        el("span", { className: "sub" }, `${s.address} · every ${s.interval_s} s`)),
      el("td", { className: "num", dataset: { col: "ports", value: value(s.ports) } }, String(s.ports)),
      el("td", { dataset: { col: "lastPoll", value: value(s.last_poll) } }, when(s.last_poll)),
      el("td", { className: "num", dataset: { col: "latency", value: value(s.latency_s) } },
        s.latency_s === null ? DASH : `${(s.latency_s * 1000).toFixed(0)} ms`),
      el("td", { dataset: { col: "lastReport", value: value(s.last_report) } }, when(s.last_report)),
      el("td", { dataset: { col: "error", value: value(s.error) } }, s.error ? el("code", {}, s.error) : DASH),
      el("td", { dataset: { col: "lastCounters", value: value(s.last_counters) } }, when(s.last_counters)),
      speedCell(s.last_poll ? s.speed_mismatches || [] : null),
    ];
    const tr = el("tr", { className: s.reachable === false ? "row-bad" : "", dataset: { switch: s.switch } });
    tr.append(...cells);
    return tr;
  }
}

// Ports whose ifHighSpeed is not the registry's capacity_mbps: the glitch rule judges each
// delta against that capacity, so a wrong one drops real traffic or bills glitches.
function speedCell(mismatches) {
  if (mismatches === null) return el("td", { dataset: { col: "speed", value: "" } }, DASH); // never polled
  const value = mismatches.map((m) => `${m.port}=${m.if_high_speed_mbps}/${m.capacity_mbps ?? ""}`).join(",");
  const td = el("td", { dataset: { col: "speed", value } });
  if (!mismatches.length) {
    td.append("as registered");
    return td;
  }
  const list = el("ul", { className: "plain" });
  for (const m of mismatches) {
    const registered = m.capacity_mbps === null ? "not in the registry" : `registry ${m.capacity_mbps} Mbit/s`;
    list.append(el("li", {}, statusBadge("degraded", `${m.port}: ${m.if_high_speed_mbps} Mbit/s`), ` (${registered})`));
  }
  td.append(list);
  return td;
}
