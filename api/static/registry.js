// The registry pages (#/registry and #/registry/<partner>): partners, maintenance windows, and a
// partner's devices and ports, each with create / edit / retire forms that write through the API
// (POST / PATCH / DELETE). Forms only the operator may use carry the class `operator-only` and
// stay hidden for a partner token (style.css; the API refuses them anyway). A partner token may
// add and change its own devices when the operator gave it a device quota.

import { getJson, partnerPath, sendJson } from "./api.js";
import { EntityForm, action, changesText, openEditor, retireForm } from "./forms.js";
import { DASH, dateTime, el, zoneName } from "./format.js";
import { PartnerRegistry } from "./registry_partner.js";

export const PARTNER_FIELDS = [
  { name: "sla_target_pct", label: "SLA target %", kind: "number", nullable: true },
  { name: "device_quota", label: "Device quota (self-service)", kind: "number", nullable: true, hint: "Devices the partner may register itself; empty: none." },
  { name: "allowed_kinds", label: "Allowed kinds", kind: "list", nullable: true, hint: "Comma-separated; empty: any." },
  { name: "retention_days", label: "Retention (days)", kind: "number", nullable: true },
  { name: "budgets", label: "Budgets (JSON)", kind: "json", nullable: true, hint: 'e.g. {"messages_per_s": 50}' },
];

export class RegistryPage {
  constructor(section, { onError }) {
    this.section = section;
    this.onError = onError;
    this.partnerId = null;
    this.created = new Map(); // partners added from this tab, until the running registry lists them
    this.partnerView = new PartnerRegistry({ onError, say: (t) => this.say(t) });
  }

  show(partnerId) {
    this.partnerId = partnerId;
    this.status = el("p", { className: "status-line", id: "registry-status", attrs: { role: "status", "aria-live": "polite" } });
    this.status.textContent = this.carried || "";
    this.carried = null;
    if (partnerId) {
      const [back, head, ...panels] = this.partnerView.build(partnerId);
      this.section.replaceChildren(back, head, this.status, ...panels);
      this.partnerView.load().catch(this.onError);
      return;
    }
    this.partnersTable = el("table", { className: "grid-table", id: "registry-partners" });
    this.windowsTable = el("table", { className: "grid-table", id: "registry-maintenance" });
    this.partnerEditor = el("div", { className: "editor", id: "partner-editor" });
    this.windowEditor = el("div", { className: "editor", id: "maintenance-editor" });
    const addPartner = new EntityForm({
      id: "partner-add", title: "Add a partner", submitText: "Add partner",
      fields: [
        { name: "id", label: "Id", required: true, hint: "Lower case, digits, '-'; never reused once retired." },
        { name: "name", label: "Name", required: true },
        ...PARTNER_FIELDS,
      ],
      onSubmit: async (body) => {
        const out = await sendJson("POST", "/api/v1/partners", body);
        this.created.set(out.id, out);
        this.carried = `Partner ${out.id} added.`; // said on its own page, where this leads
        location.hash = `#/registry/${out.id}`;
      },
    });
    const addWindow = new EntityForm({
      id: "maintenance-add", title: "Plan a maintenance window", submitText: "Plan window",
      note: `Times in ${zoneName}. Its time is left out of SLA figures.`,
      fields: [
        { name: "partner", label: "Partner", required: true, hint: "A partner id, or * for the whole network." },
        { name: "start", label: "Start", kind: "datetime", required: true },
        { name: "end", label: "End", kind: "datetime", required: true },
        { name: "reason", label: "Reason" },
      ],
      onSubmit: async (body) => {
        const out = await sendJson("POST", "/api/v1/maintenance", body);
        this.say(`Maintenance window ${out.id} planned.`);
        addWindow.node.reset();
        await this.loadWindows();
      },
    });
    this.addWindow = addWindow;
    this.section.replaceChildren(
      el("div", { className: "section-head" }, el("h1", { id: "registry-title" }, "Registry"),
        el("a", { href: "#/audit" }, "Audit of changes →")),
      el("p", { className: "hint" }, "Partners, their devices and fibre ports, and maintenance windows. A change is in force from its commit (or its effective time); ids are never reused once retired."),
      this.status,
      el("section", { className: "panel", attrs: { "aria-labelledby": "registry-partners-title" } },
        el("h2", { id: "registry-partners-title" }, "Partners"),
        el("div", { className: "table-wrap" }, this.partnersTable), this.partnerEditor,
        el("details", { className: "operator-only", id: "partner-add-box" }, el("summary", {}, "Add a partner"), addPartner.node)),
      el("section", { className: "panel", attrs: { "aria-labelledby": "registry-maintenance-title" } },
        el("h2", { id: "registry-maintenance-title" }, "Maintenance windows"),
        el("div", { className: "table-wrap" }, this.windowsTable), this.windowEditor,
        el("details", { className: "operator-only", id: "maintenance-add-box" }, el("summary", {}, "Plan a maintenance window"), addWindow.node)),
    );
    Promise.all([this.loadPartners(), this.loadWindows()]).catch(this.onError);
  }

  hide() {
    this.partnerId = null;
  }

  say(text) {
    if (this.status) this.status.textContent = text;
  }

  async loadPartners() {
    const { data } = await getJson("/api/v1/partners");
    const rows = new Map((data || []).map((p) => [p.id, p]));
    for (const [id, p] of this.created) if (!rows.has(id)) rows.set(id, { ...p, devices: null, ports: null });
    const head = el("tr", {}, ...["Partner", "Devices", "Ports", ""].map((h) => el("th", { scope: "col" }, h)));
    const body = [...rows.values()].sort((a, b) => a.id.localeCompare(b.id)).map((p) => el("tr", { dataset: { partner: p.id } },
      el("th", { scope: "row" }, el("a", { href: `#/registry/${p.id}` }, p.name), el("span", { className: "sub" }, p.id)),
      el("td", { className: "num" }, p.devices === null ? DASH : String(p.devices)),
      el("td", { className: "num" }, p.ports === null ? DASH : String(p.ports)),
      el("td", { className: "actions" },
        el("a", { href: `#/registry/${p.id}` }, "Devices and ports"),
        action("Edit", `Edit partner ${p.id}`, () => this.editPartner(p), "operator-only"),
        action("Retire", `Retire partner ${p.id}`, () => this.retirePartner(p), "operator-only"))));
    this.partnersTable.replaceChildren(el("caption", { className: "sr-only" }, "Partners"), el("thead", {}, head), el("tbody", {}, ...body));
  }

  editPartner(p) {
    const close = () => this.partnerEditor.replaceChildren();
    const form = new EntityForm({
      id: "partner-edit", title: `Edit partner ${p.id}`, mode: "edit", submitText: "Save partner", onCancel: close,
      note: "Only the fields you change are sent; empty a field to clear it.",
      fields: [{ name: "name", label: "Name", value: p.name }, ...PARTNER_FIELDS],
      onSubmit: async (body) => {
        const out = await sendJson("PATCH", partnerPath(p.id), body);
        this.say(changesText(out, `Partner ${p.id} unchanged.`));
        close();
        await this.loadPartners();
      },
    });
    openEditor(this.partnerEditor, form);
  }

  retirePartner(p) {
    const close = () => this.partnerEditor.replaceChildren();
    const form = retireForm({
      id: "partner-retire", title: `Retire partner ${p.id}`, submitText: "Retire partner", onCancel: close,
      note: "Retires it now with its devices, ports and maintenance windows; its history stays, its id is never reused.",
      onSubmit: async () => {
        const out = await sendJson("DELETE", partnerPath(p.id));
        this.created.delete(p.id);
        this.say(changesText(out, `Partner ${p.id} retired.`));
        close();
        await this.loadPartners();
      },
    });
    openEditor(this.partnerEditor, form);
  }

  async loadWindows() {
    const { data } = await getJson("/api/v1/maintenance");
    const head = el("tr", {}, ...["Id", "Partner", "Start", "End", "Reason", ""].map((h) => el("th", { scope: "col" }, h)));
    const rows = (data || []).map((w) => el("tr", { dataset: { window: String(w.id), cancelled: String(Boolean(w.cancelled_at)) } },
      el("td", { className: "num" }, String(w.id)),
      el("td", {}, w.partner === "*" ? "whole network" : w.partner),
      el("td", {}, dateTime(w.start)), el("td", {}, dateTime(w.end)), el("td", {}, w.reason || DASH),
      el("td", { className: "actions" }, w.cancelled_at ? `cancelled ${dateTime(w.cancelled_at)}`
        : action("Cancel", `Cancel maintenance window ${w.id}`, () => this.cancelWindow(w), "operator-only"))));
    this.windowsTable.replaceChildren(el("caption", { className: "sr-only" }, "Maintenance windows"), el("thead", {}, head),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { attrs: { colspan: "6" } }, "No maintenance windows."))])));
  }

  cancelWindow(w) {
    const close = () => this.windowEditor.replaceChildren();
    const form = retireForm({
      id: "maintenance-cancel", title: `Cancel maintenance window ${w.id}`, submitText: "Cancel window", onCancel: close,
      note: "Its time counts in the figures again.",
      onSubmit: async () => {
        const out = await sendJson("DELETE", `/api/v1/maintenance/${w.id}`);
        this.say(changesText(out, `Window ${w.id} cancelled.`));
        close();
        await this.loadWindows();
      },
    });
    openEditor(this.windowEditor, form);
  }
}
