// One partner in the registry (#/registry/<partner>): its devices (a page at a time, from
// GET /api/v1/devices) and fibre ports with their forms. Changes that have an effective time
// (a device's interval, port, switch; a port's partner, capacity, interval; a retirement) take
// one, empty meaning now. Adding devices is open to the partner itself when it has a quota.

import { getJson, partnerPath, qs, sendJson } from "./api.js";
import { EFFECTIVE_HINT, EntityForm, action, changesText, effectiveQuery, openEditor, retireForm } from "./forms.js";
import { DASH, dateTime, el } from "./format.js";

const PAGE = 50;
const KINDS = ["generic", "temperature", "air-quality", "water-level", "energy-meter", "footfall", "occupancy", "noise", "vibration"];

export class PartnerRegistry {
  constructor({ onError, say }) {
    this.onError = onError;
    this.say = say;
    this.id = null;
    this.ports = [];
  }

  /** The page's nodes (the caller adds its status line), loaded by `load()`. */
  build(id) {
    this.id = id;
    this.devicesTable = el("table", { className: "grid-table", id: "registry-devices" });
    this.portsTable = el("table", { className: "grid-table", id: "registry-ports" });
    this.deviceEditor = el("div", { className: "editor", id: "device-editor" });
    this.portEditor = el("div", { className: "editor", id: "port-editor" });
    this.more = el("button", { type: "button", id: "devices-more", hidden: true }, "More devices");
    this.more.addEventListener("click", () => this.loadDevices(true).catch(this.onError));
    this.showRetired = el("input", { type: "checkbox", id: "devices-retired" });
    this.showRetired.addEventListener("change", () => this.loadDevices().catch(this.onError));
    this.portList = el("datalist", { id: "partner-port-names" });
    this.addDevice = new EntityForm({
      id: "device-add", title: "Add a device", submitText: "Add device",
      note: "Accepted by the running platform from the commit on.",
      fields: [
        { name: "id", label: "Device id", required: true, hint: "Letters, digits, '_', '.', '-'; never reused once retired." },
        { name: "kind", label: "Kind", options: KINDS, hint: "Empty: generic." },
        { name: "interval_s", label: "Interval (s)", kind: "number", hint: "How often it reports; empty: 60." },
        { name: "port", label: "Fibre port", hint: "One of the partner's ports; empty: none." },
        { name: "switch", label: "Switch", hint: "Only when the port name is on several switches." },
      ],
      onSubmit: async (body) => {
        const out = await sendJson("POST", partnerPath(id, "/devices"), body);
        this.say(`Device ${out.id} added to ${id}.`);
        this.addDevice.node.reset();
        await this.loadDevices();
      },
    });
    this.addDevice.fields.get("port").input.setAttribute("list", this.portList.id);
    this.addPort = new EntityForm({
      id: "port-add", title: "Add a fibre port", submitText: "Add port",
      fields: [
        { name: "switch", label: "Switch", required: true },
        { name: "port", label: "Port", required: true, hint: "Its name on the switch, no '/'." },
        { name: "partner", label: "Partner", required: true, value: id },
        { name: "capacity_mbps", label: "Capacity (Mbit/s)", kind: "number", required: true },
        { name: "interval_s", label: "Poll interval (s)", kind: "number", hint: "Empty: 60." },
      ],
      onSubmit: async (body) => {
        const out = await sendJson("POST", "/api/v1/ports", body);
        this.say(`Port ${out.switch}/${out.port} added for ${out.partner}.`);
        this.addPort.node.reset();
        await this.loadPorts();
      },
    });
    return [
      el("p", {}, el("a", { href: "#/registry" }, "← Registry")),
      el("div", { className: "section-head" }, el("h1", { id: "registry-partner-title" }, `Registry: ${id}`),
        el("a", { href: `#/partners/${id}`, id: "live-page-link" }, "Live page →")),
      el("section", { className: "panel", attrs: { "aria-labelledby": "registry-devices-title" } },
        el("h2", { id: "registry-devices-title" }, "Devices"),
        el("p", { className: "controls-row" }, el("label", { className: "inline" }, this.showRetired, " Show retired devices")),
        el("div", { className: "table-wrap" }, this.devicesTable), this.more, this.deviceEditor,
        el("details", { id: "device-add-box" }, el("summary", {}, "Add a device"), this.addDevice.node), this.portList),
      el("section", { className: "panel", attrs: { "aria-labelledby": "registry-ports-title" } },
        el("h2", { id: "registry-ports-title" }, "Fibre ports"),
        el("div", { className: "table-wrap" }, this.portsTable), this.portEditor,
        el("details", { className: "operator-only", id: "port-add-box" }, el("summary", {}, "Add a fibre port"), this.addPort.node)),
    ];
  }

  load() {
    return Promise.all([this.loadPorts(), this.loadDevices()]);
  }

  async loadDevices(next = false) {
    const id = this.id;
    const params = { partner: id, limit: PAGE, retired: this.showRetired.checked ? "true" : null, after: next ? this.after : null };
    const { data } = await getJson("/api/v1/devices" + qs(params));
    if (id !== this.id || !data) return;
    this.after = data.next_after;
    this.more.hidden = !data.next_after;
    const rows = data.items.map((d) => this.deviceRow(d));
    if (next) {
      this.devicesTable.tBodies[0].append(...rows);
      return;
    }
    const head = el("tr", {}, ...["Device", "Kind", "Interval", "Port", "Registered", ""].map((h) => el("th", { scope: "col" }, h)));
    this.devicesTable.replaceChildren(el("caption", { className: "sr-only" }, `Devices of ${id}`), el("thead", {}, head),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { attrs: { colspan: "6" } }, "No devices."))])));
  }

  deviceRow(d) {
    const retired = d.retired_from !== null;
    return el("tr", { dataset: { device: d.id, retired: String(retired) } },
      el("th", { scope: "row" }, d.id, d.auto ? el("span", { className: "sub" }, "registered by its first message") : null),
      el("td", {}, d.kind),
      el("td", { className: "num" }, `${d.interval_s} s`),
      el("td", {}, d.port ? `${d.switch ? `${d.switch}/` : ""}${d.port}` : DASH),
      el("td", {}, dateTime(d.created_at)),
      el("td", { className: "actions" }, retired ? `retired from ${dateTime(d.retired_from)}` : [
        action("Edit", `Edit device ${d.id}`, () => this.editDevice(d)),
        action("Retire", `Retire device ${d.id}`, () => this.retireDevice(d)),
      ].reduce((cell, b) => { cell.append(b); return cell; }, el("span", { className: "buttons" }))));
  }

  editDevice(d) {
    const close = () => this.deviceEditor.replaceChildren();
    const form = new EntityForm({
      id: "device-edit", title: `Edit device ${d.id}`, mode: "edit", submitText: "Save device", onCancel: close,
      note: "Only the fields you change are sent. The interval, port and switch change from the effective time; the kind at once.",
      fields: [
        { name: "kind", label: "Kind", value: d.kind, options: KINDS },
        { name: "interval_s", label: "Interval (s)", kind: "number", value: d.interval_s },
        { name: "port", label: "Fibre port", value: d.port, nullable: true, hint: "Empty: none." },
        { name: "switch", label: "Switch", value: d.switch, nullable: true },
        { name: "effective_from", label: "Effective from", kind: "datetime", hint: EFFECTIVE_HINT },
      ],
      onSubmit: async (body) => {
        const out = await sendJson("PATCH", partnerPath(this.id, `/devices/${encodeURIComponent(d.id)}`), body);
        this.say(changesText(out, `Device ${d.id} unchanged.`));
        close();
        await this.loadDevices();
      },
    });
    form.fields.get("port").input.setAttribute("list", this.portList.id);
    openEditor(this.deviceEditor, form);
  }

  retireDevice(d) {
    const close = () => this.deviceEditor.replaceChildren();
    const form = retireForm({
      id: "device-retire", title: `Retire device ${d.id}`, submitText: "Retire device", effective: true, onCancel: close,
      note: "Its messages are rejected from the effective time on; its history stays, its id is never reused.",
      onSubmit: async (body) => {
        const path = partnerPath(this.id, `/devices/${encodeURIComponent(d.id)}`) + effectiveQuery(body);
        const out = await sendJson("DELETE", path);
        this.say(changesText(out, `Device ${d.id} retired.`));
        close();
        await this.loadDevices();
      },
    });
    openEditor(this.deviceEditor, form);
  }

  async loadPorts() {
    const id = this.id;
    const { data } = await getJson("/api/v1/ports");
    if (id !== this.id) return;
    this.ports = (data || []).filter((p) => p.partner === id);
    this.portList.replaceChildren(...this.ports.map((p) => el("option", { value: p.port }, `${p.switch}/${p.port}`)));
    const head = el("tr", {}, ...["Port", "Capacity", "Poll interval", ""].map((h) => el("th", { scope: "col" }, h)));
    const rows = this.ports.map((p) => el("tr", { dataset: { port: `${p.switch}/${p.port}` } },
      el("th", { scope: "row" }, `${p.switch}/${p.port}`),
      el("td", { className: "num" }, `${p.capacity_mbps} Mbit/s`),
      el("td", { className: "num" }, `${p.interval_s} s`),
      el("td", { className: "actions operator-only" },
        action("Edit", `Edit port ${p.switch}/${p.port}`, () => this.editPort(p)),
        action("Retire", `Retire port ${p.switch}/${p.port}`, () => this.retirePort(p)))));
    this.portsTable.replaceChildren(el("caption", { className: "sr-only" }, `Fibre ports of ${id}`), el("thead", {}, head),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { attrs: { colspan: "4" } }, "No fibre ports."))])));
  }

  portPath(p) {
    return `/api/v1/ports/${encodeURIComponent(p.switch)}/${encodeURIComponent(p.port)}`;
  }

  editPort(p) {
    const close = () => this.portEditor.replaceChildren();
    const form = new EntityForm({
      id: "port-edit", title: `Edit port ${p.switch}/${p.port}`, mode: "edit", submitText: "Save port", onCancel: close,
      note: "Reassign it or change its capacity from the effective time: reports for earlier time keep the old values.",
      fields: [
        { name: "partner", label: "Partner", value: p.partner },
        { name: "capacity_mbps", label: "Capacity (Mbit/s)", kind: "number", value: p.capacity_mbps },
        { name: "interval_s", label: "Poll interval (s)", kind: "number", value: p.interval_s },
        { name: "effective_from", label: "Effective from", kind: "datetime", hint: EFFECTIVE_HINT },
      ],
      onSubmit: async (body) => {
        const out = await sendJson("PATCH", this.portPath(p), body);
        this.say(changesText(out, `Port ${p.switch}/${p.port} unchanged.`));
        close();
        await this.loadPorts();
      },
    });
    openEditor(this.portEditor, form);
  }

  retirePort(p) {
    const close = () => this.portEditor.replaceChildren();
    const form = retireForm({
      id: "port-retire", title: `Retire port ${p.switch}/${p.port}`, submitText: "Retire port", effective: true, onCancel: close,
      onSubmit: async (body) => {
        const out = await sendJson("DELETE", this.portPath(p) + effectiveQuery(body));
        this.say(changesText(out, `Port ${p.switch}/${p.port} retired.`));
        close();
        await this.loadPorts();
      },
    });
    openEditor(this.portEditor, form);
  }
}
