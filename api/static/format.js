// Number and time formatting shared by the views. Times are shown in the browser's zone with
// the zone named once in the page; raw values stay in data-value attributes for tests and copy.

export const DASH = "—";

export function pct(value) {
  return value === null || value === undefined ? DASH : `${value.toFixed(2)} %`;
}

const BIT_UNITS = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];

export function bps(value) {
  if (value === null || value === undefined) return DASH;
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < BIT_UNITS.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${BIT_UNITS[i]}`;
}

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

export function bytes(value) {
  if (value === null || value === undefined) return DASH;
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${BYTE_UNITS[i]}`;
}

export function count(value) {
  return value === null || value === undefined ? DASH : value.toLocaleString("en-GB");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60 ? `${m % 60} min` : ""}`.trim();
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const DATE_TIME = new Intl.DateTimeFormat("en-GB", {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const SHORT = new Intl.DateTimeFormat("en-GB", { day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit" });

export function dateTime(iso) {
  return iso ? DATE_TIME.format(new Date(iso)) : DASH;
}

export function shortTime(ms) {
  return SHORT.format(new Date(ms));
}

export function ago(iso, nowMs = Date.now()) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

/** RFC 3339 UTC without milliseconds, as the API takes it. */
export function rfc3339(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export function monthStartUtc(nowMs = Date.now()) {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** A status badge: colour, icon and word, never colour alone. */
export function statusBadge(status, text = status) {
  const span = document.createElement("span");
  span.className = `status status-${status}`;
  const icon = document.createElement("span");
  icon.className = "icon";
  icon.setAttribute("aria-hidden", "true");
  span.append(icon, document.createTextNode(text));
  return span;
}

/** Element helper: el("td", {className: "num", dataset: {value: 1}, style: {left: "1%"}}, "text", child). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, v);
    // Through the CSSOM, never a style attribute: the CSP refuses inline styles.
    else if (key === "style") Object.assign(node.style, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
