// Boot, routing (#/, #/partners/<id>, #/registry[/<id>], #/audit: the token is never in the URL), sign-in, and the
// polling loops: /api/v1/live every 2 s with If-None-Match (a 304 costs nothing, and a device
// going offline shows within seconds), platform health every 10 s, analytics every 30 s.

import { AlertsBanner } from "./alerts.js";
import { ApiError, getJson, loadFeatures, session } from "./api.js";
import { AuditPage } from "./audit.js";
import { DASH, bytes, count, el, statusBadge } from "./format.js";
import { Overview } from "./overview.js";
import { PartnerPage } from "./partner.js";
import { AccessLogPage } from "./access_log.js";
import { RegistryPage } from "./registry.js";
import { DevicesSelf } from "./devices_self.js";
import { SwitchesTable } from "./switches.js";

const LIVE_MS = 2000;
const HEALTH_MS = 10000;
const FIGURES_MS = 30000;

const $ = (id) => document.getElementById(id);
const views = {
  signin: $("signin-view"), overview: $("overview-view"), partner: $("partner-view"),
  registry: $("registry-view"), audit: $("audit-view"), access: $("access-view"), devices: $("devices-view"),
};
const errorBox = $("error");

const state = { viewer: null, liveEtag: null, live: null, liveAt: 0, timers: [] };

function showError(err) {
  if (err instanceof ApiError && err.status === 401) return; // the sign-in form says it
  errorBox.textContent = err instanceof Error ? err.message : String(err);
  errorBox.hidden = false;
}
function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = "";
}

const overview = new Overview($("overview"), { onError: showError });
const partnerPage = new PartnerPage(views.partner, { onError: showError });
const switches = new SwitchesTable($("switches-section"), $("switches"));
const registryPage = new RegistryPage(views.registry, { onError: showError });
const auditPage = new AuditPage(views.audit, { onError: showError });
const accessLog = new AccessLogPage(views.access, { onError: showError });
const alerts = new AlertsBanner($("alerts"), $("alerts-list"), { onError: showError });
const devicesSelf = new DevicesSelf(views.devices, { onError: showError });

function show(name) {
  for (const [key, node] of Object.entries(views)) node.hidden = key !== name;
}

/** The top bar's link of the current section says so (aria-current), for every reader. */
function markNav() {
  const section = location.hash.split("/")[1] || "";
  for (const link of document.querySelectorAll(".nav a")) {
    const own = (link.getAttribute("href").split("/")[1] || "") === section;
    if (own && section !== "partners") link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  markNav();
  if (!session.token()) {
    show("signin");
    $("token").focus();
    return;
  }
  const access = location.hash.match(/^#\/partners\/([a-z0-9-]+)\/access-log$/);
  if (access) {
    partnerPage.hide();
    registryPage.hide();
    devicesSelf.hide();
    show("access");
    accessLog.show(decodeURIComponent(access[1]));
    document.title = `Mainport — who read ${access[1]}'s data`;
    return;
  }
  accessLog.hide();
  const onboarding = location.hash.match(/^#\/devices\/([a-z0-9-]+)(?:\/([^/]+))?$/);
  if (onboarding) {
    partnerPage.hide();
    registryPage.hide();
    accessLog.hide();
    show("devices");
    devicesSelf.show(onboarding[1], onboarding[2] ? decodeURIComponent(onboarding[2]) : null);
    document.title = `Mainport — devices of ${onboarding[1]}`;
    return;
  }
  devicesSelf.hide();
  const match = location.hash.match(/^#\/partners\/([a-z0-9-]+)$/);
  const registryMatch = location.hash.match(/^#\/registry(?:\/([a-z0-9-]+))?$/);
  if (!registryMatch) registryPage.hide();
  if (registryMatch) {
    partnerPage.hide();
    show("registry");
    registryPage.show(registryMatch[1] ? decodeURIComponent(registryMatch[1]) : null);
    document.title = `Mainport — registry${registryMatch[1] ? ` — ${registryMatch[1]}` : ""}`;
  } else if (location.hash === "#/audit") {
    partnerPage.hide();
    show("audit");
    auditPage.show();
    document.title = "Mainport — audit";
  } else if (match) {
    show("partner");
    alerts.setPartner(decodeURIComponent(match[1]));
    partnerPage.show(decodeURIComponent(match[1]));
    document.title = `Mainport — ${match[1]}`;
  } else {
    partnerPage.hide();
    alerts.setPartner(null);
    show("overview");
    document.title = "Mainport — network overview";
  }
}

// --- polling -------------------------------------------------------------------------------------

function every(ms, task) {
  let stopped = false;
  const loop = async () => {
    if (stopped || !session.token()) return;
    try {
      await task();
    } catch (err) {
      showError(err);
    }
    if (!stopped) state.timers.push(setTimeout(loop, ms));
  };
  loop();
  return () => { stopped = true; };
}

async function pollLive() {
  const { status, data, etag } = await getJson("/api/v1/live", { etag: state.liveEtag });
  state.liveAt = Date.now();
  if (status === 304) return;
  if (!data) throw new Error("this API has no /api/v1/live endpoint");
  state.live = data;
  state.liveEtag = etag;
  overview.setLive(data);
  partnerPage.setLive(data);
  clearError();
}

const WARNING_TEXT = {
  influxdb_down: "InfluxDB down",
  influxdb_refusing_writes: "InfluxDB refusing writes",
  broker_down: "broker down",
  disk_low_spool: "spool disk nearly full",
  disk_low_influxdb: "InfluxDB disk nearly full",
  broker_restarted: "broker restarted in the last 24 h (a crash may have lost acknowledged messages)",
  broker_session_lost: "broker lost the ingest's queued session in the last 24 h",
};

async function pollHealth() {
  const { data } = await getJson("/api/v1/platform");
  if (!data) {
    $("health").replaceChildren(el("li", {}, "Platform health not available from this API."));
    return;
  }
  if (!state.viewer) onViewer(data.viewer);
  const up = (ok) => (ok === null || ok === undefined ? "unknown" : ok ? "online" : "offline");
  const items = [
    ["broker", "Broker", statusBadge(up(data.broker), data.broker ? "up" : "down")],
    ["influxdb", "InfluxDB", statusBadge(up(data.influxdb && data.influxdb_writes !== false),
      !data.influxdb ? "down" : data.influxdb_writes === false ? "refusing writes" : "up")],
    ["ingest", "Ingest", statusBadge(up(data.ingest_connected), data.ingest_connected === null ? "unknown" : data.ingest_connected ? "connected" : "not connected")],
    ["rate", "Ingest rate", data.messages_per_s === null ? DASH : `${data.messages_per_s.toFixed(1)} msg/s`],
    ["rejected", "Rejected 24 h", count(data.rejected_24h)],
  ];
  if (data.viewer.role === "operator") items.push(["spool", "Spool", bytes(data.spool_bytes)]);
  if (data.derive_lag_s !== undefined) {
    const lag = data.derive_lag_s;
    items.push(["derived", "Figures", lag === null ? DASH : lag < 60 ? "current" : `${Math.round(lag)} s behind`]);
  }
  // Raised flags (a broker restart that may have lost data, a disk filling up...): the
  // platform endpoint names them, so an alert and this header say the same thing.
  const warnings = data.warnings || [];
  if (warnings.length) {
    items.push(["warnings", "Warnings", statusBadge("offline", warnings.map((w) => WARNING_TEXT[w] || w).join(", "))]);
  }
  $("health").replaceChildren(...items.map(([key, label, value]) =>
    el("li", { dataset: { key } }, el("span", { className: "label" }, `${label}:`), value)));
  // The collector's health per switch, on the overview (operators only; none for a partner).
  if (!views.overview.hidden) await switches.refresh(state.viewer);
}

function onViewer(viewer) {
  state.viewer = viewer;
  $("viewer").textContent = viewer.role === "operator" ? "operator" : `partner ${viewer.partner}`;
  document.body.dataset.role = viewer.role;
  if (viewer.role === "partner") {
    $("nav-devices").href = `#/devices/${viewer.partner}`;
    $("nav-devices").hidden = false;
  }
  // A partner lands on its own page; the overview (one row) stays one click away.
  if (viewer.role === "partner" && (location.hash === "" || location.hash === "#/")) {
    location.hash = `#/partners/${viewer.partner}`;
  }
}

function tickFreshness() {
  if (!state.liveAt) return;
  const s = Math.round((Date.now() - state.liveAt) / 1000);
  $("freshness").textContent = s <= 5 ? "live" : `last update ${s} s ago`;
  $("freshness").dataset.stale = String(s > 10);
}

let stops = [];
function start() {
  stop();
  $("signout").hidden = false;
  stops = [
    every(LIVE_MS, pollLive),
    every(LIVE_MS, () => alerts.refresh()),
    every(HEALTH_MS, pollHealth),
    every(FIGURES_MS, async () => {
      if (!state.live) await pollLive();
      if (!views.overview.hidden || overview.figures.size === 0) await overview.refreshFigures();
      if (!views.partner.hidden) await partnerPage.refresh();
    }),
  ];
  state.timers.push(setInterval(tickFreshness, 1000));
}
function stop() {
  for (const s of stops) s();
  stops = [];
  for (const t of state.timers) { clearTimeout(t); clearInterval(t); }
  state.timers = [];
}

// --- wiring -----------------------------------------------------------------------------------------

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  session.signIn($("token").value);
  $("token").value = "";
  clearError();
  state.viewer = null;
  state.liveEtag = null;
  loadFeatures().then(() => {
    route();
    start();
  });
});
$("signout").addEventListener("click", () => {
  session.signOut();
  window.dispatchEvent(new CustomEvent("mainport:signed-out"));
});
window.addEventListener("mainport:signed-out", () => {
  stop();
  state.viewer = null;
  state.live = null;
  state.liveEtag = null;
  $("signout").hidden = true;
  $("viewer").textContent = "";
  delete document.body.dataset.role;
  $("nav-devices").hidden = true;
  $("health").replaceChildren();
  alerts.alerts = [];
  alerts.render();
  switches.clear();
  $("freshness").textContent = "";
  route();
  showError("Sign in with an API token.");
});
$("refresh-overview").addEventListener("click", () => overview.refreshFigures().catch(showError));
window.addEventListener("hashchange", () => {
  route();
  if (!views.overview.hidden) {
    overview.refreshFigures().catch(showError);
    switches.refresh(state.viewer).catch(showError);
  }
});

const wall = $("wall");
const setWall = (on) => {
  document.documentElement.classList.toggle("wall", on);
  wall.setAttribute("aria-pressed", String(on));
  localStorage.setItem("mainport-wall", on ? "1" : "0");
};
wall.addEventListener("click", () => setWall(wall.getAttribute("aria-pressed") !== "true"));
setWall(localStorage.getItem("mainport-wall") === "1");

loadFeatures().then(() => {
  route();
  if (session.token()) start();
});
