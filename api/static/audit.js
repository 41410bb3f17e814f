// The audit (#/audit): every registry change, newest first — who, when, what, and the fields
// before → after — from GET /api/v1/audit, a page at a time ("Older entries"). The operator may
// narrow it to one partner; a partner token sees the entries about its own entities only.

import { getJson, qs } from "./api.js";
import { DASH, dateTime, el, zoneName } from "./format.js";

const PAGE = 50;

function text(value) {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** The fields an entry changed, one line each: "k: before → after", "+ k: v", "− k: v" (gone). */
export function changeLines(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])].filter((k) => k !== "effective_from");
  const lines = [];
  for (const k of keys) {
    const b = before && k in before ? text(before[k]) : undefined;
    const a = after && k in after ? text(after[k]) : undefined;
    if (b === a) continue;
    if (b === undefined) lines.push(["added", `${k}: ${a}`]);
    else if (a === undefined) {
      // A retirement records only what it set (retired_from): the rest did not change.
      if (!after) lines.push(["removed", `${k}: ${b}`]);
    }
    else lines.push(["changed", `${k}: ${b} → ${a}`]);
  }
  if (after && after.effective_from) lines.push(["effective", `effective from ${dateTime(after.effective_from)}`]);
  return lines;
}

export class AuditPage {
  constructor(section, { onError }) {
    this.section = section;
    this.onError = onError;
    this.after = null;
  }

  show() {
    this.table = el("table", { className: "grid-table", id: "audit" });
    this.more = el("button", { type: "button", id: "audit-more", hidden: true }, "Older entries");
    this.more.addEventListener("click", () => this.load(true).catch(this.onError));
    this.partner = el("input", { id: "audit-partner", type: "text", attrs: { autocomplete: "off", spellcheck: "false" } });
    const filter = el("form", { className: "controls-row operator-only", id: "audit-filter" },
      el("label", {}, "Partner (empty: all)", this.partner), el("button", { type: "submit" }, "Show"));
    filter.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load().catch(this.onError);
    });
    const refresh = el("button", { type: "button", id: "refresh-audit" }, "Refresh");
    refresh.addEventListener("click", () => this.load().catch(this.onError));
    this.section.replaceChildren(
      el("div", { className: "section-head" }, el("h1", { id: "audit-title" }, "Audit"), el("a", { href: "#/registry" }, "Registry →"), refresh),
      el("p", { className: "hint" }, `Every change to the registry, newest first: who (token role, partner, id and label, or the shell user), when (${zoneName}), what, and the fields before → after.`),
      filter,
      el("div", { className: "table-wrap" }, this.table), this.more);
    this.load().catch(this.onError);
  }

  async load(older = false) {
    const partner = this.partner.value.trim() || null;
    const { data } = await getJson("/api/v1/audit" + qs({ partner, limit: PAGE, after: older ? this.after : null }));
    if (!data) {
      this.table.replaceChildren(el("caption", {}, "The audit is not available from this API."));
      return;
    }
    this.after = data.next_after;
    this.more.hidden = data.next_after === null;
    const rows = data.items.map((e) => this.row(e));
    if (older) {
      this.table.tBodies[0].append(...rows);
      return;
    }
    const head = el("tr", {}, ...["When", "Who", "Action", "Entity", "Before → after"].map((h) => el("th", { scope: "col" }, h)));
    this.table.replaceChildren(el("caption", { className: "sr-only" }, "Registry changes, newest first"), el("thead", {}, head),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { attrs: { colspan: "5" } }, "No changes recorded."))])));
    this.table.dataset.loadedAt = String(Date.now());
  }

  row(e) {
    const lines = changeLines(e.before, e.after);
    return el("tr", { dataset: { id: String(e.id), action: e.action, entity: e.entity, entityId: e.entity_id } },
      el("td", {}, el("time", { dateTime: e.at }, dateTime(e.at))),
      el("td", {}, e.actor),
      el("td", {}, e.action),
      el("td", {}, `${e.entity} `, el("code", {}, e.entity_id)),
      el("td", {}, lines.length
        ? el("ul", { className: "plain changes" }, ...lines.map(([kind, line]) => el("li", { className: `change-${kind}` }, line)))
        : DASH));
  }
}
