// Self-service onboarding: a partner (or the operator for it) registers a device, gets its own
// MQTT login once with the filled-in "how to connect" guide, and watches the device's debug
// page live (every 2 s): liveness, last stored and rejected messages, last status and Last Will.
// Routes: #/devices/<partner> (register, devices, gateways), #/devices/<partner>/<device>.
// A new password lives only in this object's memory until the page is left: never stored.

import { ApiError, getJson, partnerPath, session } from "./api.js";
import { DASH, ago, dateTime, el, statusBadge } from "./format.js";

const POLL_MS = 2000;

/** A write to the API; throws ApiError with the server's message (403/409/422 explain why). */
async function send(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const detail = data && data.detail;
    const text = Array.isArray(detail)
      ? detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ")
      : detail || resp.statusText;
    throw new ApiError(resp.status, `${resp.status}: ${text}`);
  }
  return data;
}

function copyButton(target, label) {
  const button = el("button", { type: "button", className: "copy" }, `Copy ${label}`);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(target.textContent);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange(); // no clipboard (plain http): select it for Ctrl-C
      range.selectNodeContents(target);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl-C";
    }
  });
  return button;
}

function field(name, value, label) {
  const code = el("code", { dataset: { field: name } }, value);
  return el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, code), el("td", {}, copyButton(code, label.toLowerCase())));
}

function block(name, text, label) {
  // Wrapped, not scrolled: a long command stays whole on screen (CSSOM, not a style attribute).
  const pre = el("pre", { dataset: { field: name }, className: "snippet", style: { whiteSpace: "pre-wrap", overflowWrap: "anywhere" } }, text);
  return el("div", { className: "snippet-block" }, el("h3", {}, label, " ", copyButton(pre, "snippet")), pre);
}

/** A two-column table of facts (label, value). */
function facts(id, rows) {
  return el("table", { className: "grid-table", id },
    el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))));
}

/** The credentials and the guide, shown once after a login was issued. */
function issuedPanel(issued) {
  const c = issued.connect;
  return el("section", { className: "panel", id: "issued", attrs: { "aria-labelledby": "issued-title" } },
    el("h2", { id: "issued-title" }, `MQTT login ${issued.username}`),
    el("p", { className: "hint", attrs: { role: "note" } },
      "The password is shown this once: copy it now. Only a hash is kept; issue a new one to replace it."),
    el("table", { className: "grid-table" }, el("tbody", {},
      field("username", issued.username, "Username"),
      field("password", issued.password, "Password"),
      field("host", c.host, "Broker host"),
      field("tls_port", String(c.tls_port), "TLS port"),
      ...Object.entries(c.topics).map(([k, t]) => field(`topic-${k}`, t, `Topic ${k}`)))),
    block("get_ca", c.get_ca, "1. Get the broker's CA certificate"),
    block("example_payload", c.example_payload, "Example payload"),
    block("mosquitto_pub", c.mosquitto_pub, "2. Publish with mosquitto_pub"),
    block("python", c.python, "Or with Python (paho-mqtt)"));
}

export class DevicesSelf {
  constructor(section, { onError }) {
    this.section = section;
    this.onError = onError;
    this.key = null;
    this.timer = null;
    this.issued = null; // {device, body}: the one answer that carried a password
  }

  show(partner, device) {
    const key = `${partner}/${device || ""}`;
    if (this.key === key) return;
    this.hide();
    this.key = key;
    this.partner = partner;
    this.device = device;
    if (device) this.buildDevice();
    else this.buildPartner();
  }

  hide() {
    this.key = null;
    clearTimeout(this.timer);
    this.timer = null;
  }

  // --- #/devices/<partner> --------------------------------------------------------------------

  buildPartner() {
    const p = this.partner;
    const message = el("p", { id: "register-message", className: "error", attrs: { role: "alert" }, hidden: true });
    const form = el("form", { id: "register", className: "register", autocomplete: "off" },
      el("label", { htmlFor: "reg-id" }, "Device id"),
      el("input", { id: "reg-id", name: "id", required: true, pattern: "[a-z0-9][a-z0-9-]{0,31}", spellcheck: false }),
      el("label", { htmlFor: "reg-kind" }, "Kind"),
      el("input", { id: "reg-kind", name: "kind", required: true, value: "temperature", spellcheck: false }),
      el("label", { htmlFor: "reg-interval" }, "Reporting interval (s)"),
      el("input", { id: "reg-interval", name: "interval_s", type: "number", min: "1", value: "60", required: true }),
      el("label", { htmlFor: "reg-port" }, "Fibre port (optional)"),
      el("input", { id: "reg-port", name: "port", spellcheck: false }),
      el("button", { type: "submit" }, "Register and get its login"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.register(form, message).catch((err) => this.onError(err));
    });
    this.deviceList = el("ul", { id: "self-devices", className: "plain-list" });
    this.gatewayList = el("ul", { id: "self-gateways", className: "plain-list" });
    const gwMessage = el("p", { className: "error", attrs: { role: "alert" }, hidden: true });
    const gwForm = el("form", { id: "gateway-form", autocomplete: "off" },
      el("label", { htmlFor: "gw-label" }, "Gateway name"),
      el("input", { id: "gw-label", required: true, pattern: "[a-z0-9][a-z0-9-]{0,31}", spellcheck: false }),
      el("button", { type: "submit" }, "Create gateway login"));
    this.gwIssued = el("div", { id: "gateway-issued" });
    gwForm.addEventListener("submit", (e) => {
      e.preventDefault();
      gwMessage.hidden = true;
      send("POST", partnerPath(p, "/gateways"), { label: gwForm.querySelector("input").value.trim() })
        .then((body) => { this.gwIssued.replaceChildren(issuedPanel(body)); return this.loadLists(); })
        .catch((err) => { gwMessage.textContent = err.message; gwMessage.hidden = false; });
    });
    this.section.replaceChildren(
      el("h1", { id: "self-title" }, `Devices of ${p}`),
      el("p", { className: "hint" }, "Register a device within the quota and kinds the operator set; ",
        "it gets its own MQTT login, which may publish under its own topics only."),
      el("section", { className: "panel", attrs: { "aria-labelledby": "register-title" } },
        el("h2", { id: "register-title" }, "Register a device"), form, message),
      el("section", { className: "panel", attrs: { "aria-labelledby": "list-title" } },
        el("h2", { id: "list-title" }, "Registered devices"), this.deviceList),
      el("section", { className: "panel", attrs: { "aria-labelledby": "gw-title" } },
        el("h2", { id: "gw-title" }, "Gateway logins"),
        el("p", { className: "hint" }, "For a LoRaWAN network server or your own back end: publishes for every device of yours."),
        this.gatewayList, gwForm, gwMessage, this.gwIssued));
    this.loadLists().catch((err) => this.onError(err));
  }

  async loadLists() {
    const p = this.partner;
    const { data: devices } = await getJson(`/api/v1/devices?partner=${encodeURIComponent(p)}&limit=1000`);
    this.deviceList.replaceChildren(...(devices ? devices.items : []).map((d) =>
      el("li", {}, el("a", { href: `#/devices/${p}/${encodeURIComponent(d.id)}` }, d.id), ` ${d.kind}, every ${d.interval_s} s`)));
    const { data: gateways } = await getJson(partnerPath(p, "/gateways"));
    this.gatewayList.replaceChildren(...(gateways || []).map((g) => {
      const revoke = el("button", { type: "button" }, "Revoke");
      revoke.hidden = !g.label;
      revoke.addEventListener("click", () =>
        send("DELETE", partnerPath(p, `/gateways/${g.label}`)).then(() => this.loadLists()).catch((err) => this.onError(err)));
      return el("li", { dataset: { username: g.username } }, el("code", {}, g.username), ` issued ${dateTime(g.issued_at)} `, revoke);
    }));
  }

  async register(form, message) {
    message.hidden = true;
    const value = (name) => form.elements[name].value.trim();
    const body = { id: value("id"), kind: value("kind"), interval_s: Number(value("interval_s")) };
    if (value("port")) body.port = value("port");
    try {
      await send("POST", partnerPath(this.partner, "/devices"), body);
      const issued = await send("POST", partnerPath(this.partner, `/devices/${encodeURIComponent(body.id)}/login`));
      this.issued = { device: body.id, body: issued };
    } catch (err) {
      message.textContent = err.message;
      message.hidden = false;
      return;
    }
    location.hash = `#/devices/${this.partner}/${encodeURIComponent(body.id)}`;
  }

  // --- #/devices/<partner>/<device> -----------------------------------------------------------

  buildDevice() {
    const { partner: p, device: d } = this;
    const issued = this.issued && this.issued.device === d ? this.issued.body : null;
    this.issued = null; // shown once: leaving the page forgets it
    this.stateCell = el("span", { id: "device-state", dataset: { state: "unknown" } });
    this.facts = el("div", { id: "device-facts" });
    this.messages = el("tbody");
    this.rejected = el("tbody");
    this.loginBox = el("div", { id: "device-login" });
    this.issuedBox = el("div", {}, issued ? issuedPanel(issued) : null);
    const table = (id, caption, heads, body) => el("div", { className: "table-wrap" },
      el("table", { className: "grid-table", id },
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)))), body));
    this.section.replaceChildren(
      el("p", {}, el("a", { href: `#/devices/${p}` }, `← Devices of ${p}`)),
      el("div", { className: "section-head" }, el("h1", { id: "self-title" }, d), this.stateCell),
      this.issuedBox,
      this.facts,
      this.loginBox,
      table("device-messages", "Last stored messages", ["Time", "Type", "Bytes", "Readings"], this.messages),
      table("device-rejected", "Last rejected messages", ["Time", "Reason", "Detail", "Excerpt", "Topic"], this.rejected));
    this.poll();
  }

  async poll() {
    const key = this.key;
    try {
      const { data } = await getJson(partnerPath(this.partner, `/devices/${encodeURIComponent(this.device)}/debug`));
      if (key !== this.key) return;
      if (data) this.render(data);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) this.onError(err);
    }
    if (key === this.key && session.token()) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  render(v) {
    this.stateCell.dataset.state = v.state;
    this.stateCell.replaceChildren(statusBadge(v.state, v.state === "unknown" ? "not heard from yet" : v.state));
    const will = v.last_will ? `${dateTime(v.last_will.time)} (${ago(v.last_will.time)})` : "none";
    const status = v.last_status ? `${v.last_status.online ? "online" : "offline"} at ${dateTime(v.last_status.time)}` : "none";
    const rows = [["Kind", v.kind], ["Interval", `${v.interval_s} s`], ["Last seen", v.last_seen ? `${dateTime(v.last_seen)} (${ago(v.last_seen)})` : "never"],
      ["Last status", status], ["Last Will (offline)", will], ["Telemetry topic", v.topics.telemetry], ["Status topic", v.topics.status]];
    if (v.retired_from) rows.push(["Retired from", dateTime(v.retired_from)]);
    this.facts.replaceChildren(facts("device-fact-table", rows));
    this.renderLogin(v.login);
    this.messages.replaceChildren(...(v.messages.length ? v.messages.map((m) => el("tr", {},
      el("td", {}, dateTime(m.time)), el("td", {}, m.type), el("td", { className: "num" }, m.bytes),
      el("td", {}, m.metrics ? Object.entries(m.metrics).map(([k, x]) => `${k}=${x}`).join(", ") : m.online === null ? DASH : m.online ? "online" : "offline")))
      : [el("tr", {}, el("td", { colSpan: 4 }, "No message stored yet."))]));
    this.rejected.replaceChildren(...(v.rejected.length ? v.rejected.map((r) => el("tr", { dataset: { reason: r.reason } },
      el("td", {}, dateTime(r.time)), el("td", {}, el("code", {}, r.reason)), el("td", {}, r.detail),
      el("td", {}, el("code", {}, r.excerpt)), el("td", {}, r.topic)))
      : [el("tr", {}, el("td", { colSpan: 5 }, "Nothing rejected."))]));
  }

  renderLogin(login) {
    const signature = login ? `${login.username}@${login.issued_at}` : "none";
    if (this.loginBox.dataset.signature === signature) return; // keep focus on the buttons
    this.loginBox.dataset.signature = signature;
    const path = partnerPath(this.partner, `/devices/${encodeURIComponent(this.device)}/login`);
    const issue = el("button", { type: "button", id: "issue-login" }, login ? "Issue a new password (rotate)" : "Issue its MQTT login");
    issue.addEventListener("click", () => send("POST", path).then((body) => {
      this.issuedBox.replaceChildren(issuedPanel(body));
    }).catch((err) => this.onError(err)));
    const revoke = el("button", { type: "button", id: "revoke-login", hidden: !login }, "Revoke login");
    revoke.addEventListener("click", () => send("DELETE", path).then(() => {
      this.issuedBox.replaceChildren();
      this.loginBox.dataset.signature = "";
    }).catch((err) => this.onError(err)));
    this.loginBox.replaceChildren(
      el("p", {}, login ? `MQTT login ${login.username}, issued ${dateTime(login.issued_at)}.` : "No MQTT login for this device."),
      issue, " ", revoke);
  }
}
