// Firing alerts at the top of the overview and of a partner's page (issue 15), live: polled
// every few seconds from /api/v1/alerts?state=firing (the token scopes it: a partner sees its
// own only). Each can be acknowledged with a comment, from here.

import { ApiError, getJson, has, session } from "./api.js";
import { ago, el, statusBadge } from "./format.js";

const WINDOW_MS = 400 * 86400 * 1000; // firing alerts are listed whatever their age

export class AlertsBanner {
  constructor(section, list, { onError }) {
    this.section = section;
    this.list = list;
    this.onError = onError;
    this.partner = null; // on a partner's page: only that partner's alerts
    this.alerts = [];
    this.editing = null; // the alert whose comment form is open: not redrawn under the user
  }

  setPartner(partner) {
    this.partner = partner;
    this.render();
  }

  async refresh() {
    if (!has("/alerts")) return;
    const start = new Date(Date.now() - WINDOW_MS).toISOString();
    const { data } = await getJson(`/api/v1/alerts?state=firing&start=${encodeURIComponent(start)}`);
    this.alerts = data || [];
    if (this.editing === null) this.render();
  }

  render() {
    const shown = this.alerts.filter((a) => this.partner === null || a.partner === this.partner);
    this.section.hidden = shown.length === 0;
    this.list.replaceChildren(...shown.map((a) => this.item(a)));
  }

  item(a) {
    const who = a.partner ? a.partner : "platform";
    const ack = a.acknowledged
      ? el("span", { className: "ack" }, `acknowledged by ${a.acked_by}: ${a.ack_comment}`)
      : this.ackForm(a);
    return el(
      "li",
      { dataset: { alert: a.id, kind: a.kind, severity: a.severity } },
      statusBadge("offline", a.severity),
      el("span", { className: "summary" }, a.summary),
      el("span", { className: "since" }, `${who} · since ${ago(a.since)}`),
      ack,
    );
  }

  ackForm(a) {
    const input = el("input", {
      type: "text", name: "comment", required: true, maxLength: 2000,
      placeholder: "comment", attrs: { "aria-label": `Comment acknowledging ${a.summary}` },
    });
    input.addEventListener("focus", () => { this.editing = a.id; });
    input.addEventListener("blur", () => { if (!input.value) this.editing = null; });
    const form = el("form", { className: "ack-form" }, input,
      el("button", { type: "submit" }, "Acknowledge"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await acknowledge(a.id, input.value);
        this.editing = null;
        await this.refresh();
      } catch (err) {
        this.onError(err);
      }
    });
    return form;
  }
}

async function acknowledge(id, comment) {
  const resp = await fetch(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${session.token()}`,
      "Content-Type": "application/json",
      Accept: "application/json",
    },
    body: JSON.stringify({ comment }),
  });
  if (!resp.ok) throw new ApiError(resp.status, `acknowledge: ${resp.status} ${resp.statusText}`);
}
