// A partner's access log: who read its data through the API (operator, the partner itself, a
// grantee, refused attempts), newest first, a page at a time; and the standing direct readers
// of InfluxDB, whose reads do not pass the API and so are not in the log.

import { getJson, partnerPath, qs } from "./api.js";
import { DASH, dateTime, el } from "./format.js";

const PAGE = 50;
const ROLE_TEXT = { operator: "operator", partner: "you", grantee: "grantee (shared device)", "other partner": "another partner (refused)" };

export class AccessLogPage {
  constructor(section, { onError }) {
    this.section = section;
    this.onError = onError;
    this.id = null;
  }

  show(id) {
    this.id = id;
    this.offset = 0;
    this.body = el("tbody");
    this.table = el("table", { className: "grid-table", id: "access-log" },
      el("caption", { className: "sr-only" }, "Reads of this partner's data, newest first"),
      el("thead", {}, el("tr", {}, ...["When", "Who", "Token", "As", "What", "Device", "Window", "Answer"]
        .map((h) => el("th", { scope: "col" }, h)))),
      this.body);
    this.more = el("button", { type: "button", id: "access-log-more", hidden: true }, "Older reads");
    this.more.addEventListener("click", () => this.load().catch(this.onError));
    this.readers = el("ul", { id: "direct-readers" });
    this.section.replaceChildren(
      el("p", {}, el("a", { href: `#/partners/${encodeURIComponent(id)}` }, `← ${id}`)),
      el("h1", { id: "access-title" }, `Who read ${id}'s data`),
      el("p", { className: "hint" }, "Every read through the API is logged: by the operator, by you, by a partner you shared a device with, and attempts that were refused."),
      el("section", { className: "panel", attrs: { "aria-labelledby": "readers-title" } },
        el("h2", { id: "readers-title" }, "Standing direct readers of the database"),
        el("p", { className: "hint" }, "These read InfluxDB itself, not through the API: their reads are not in the log below."),
        this.readers),
      el("section", { className: "panel", attrs: { "aria-labelledby": "reads-title" } },
        el("h2", { id: "reads-title" }, "Reads through the API"),
        el("div", { className: "table-wrap" }, this.table), this.more),
    );
    return this.load().catch(this.onError);
  }

  async load() {
    const id = this.id;
    const { data } = await getJson(partnerPath(id, "/access-log") + qs({ limit: PAGE, offset: this.offset }));
    if (!data || id !== this.id) return;
    if (this.offset === 0) {
      this.readers.replaceChildren(...data.direct_readers.map((r) =>
        el("li", { dataset: { username: r.username } }, el("strong", {}, r.username), ` — ${r.privilege}; used by ${r.used_by}`)));
    }
    for (const e of data.entries) {
      const window = Object.entries(e.params).map(([k, v]) => `${k}=${v}`).join(" ") || DASH;
      this.body.append(el("tr", { dataset: { role: e.role, endpoint: e.endpoint } },
        el("td", { dataset: { col: "time", value: e.time } }, dateTime(e.time)),
        el("td", { dataset: { col: "who" } }, e.label || (e.reader_partner ? `partner ${e.reader_partner}` : "operator")),
        el("td", { dataset: { col: "token" } }, el("code", {}, e.token_id)),
        el("td", { dataset: { col: "role" } }, ROLE_TEXT[e.role] || e.role),
        el("td", { dataset: { col: "endpoint" } }, el("code", {}, e.path)),
        el("td", { dataset: { col: "device" } }, e.device || DASH),
        el("td", { dataset: { col: "window" } }, window),
        el("td", { dataset: { col: "status", value: String(e.status) } }, String(e.status))));
    }
    if (!this.body.children.length) {
      this.body.append(el("tr", {}, el("td", { colSpan: 8 }, "No reads logged yet.")));
    }
    this.offset = data.next_offset ?? this.offset + data.entries.length;
    this.more.hidden = data.next_offset === null;
  }

  hide() {
    this.id = null;
  }
}
