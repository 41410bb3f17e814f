// The one way the dashboard talks to the API: the token from sessionStorage as a Bearer header
// (never in a URL), JSON in and out, 404 reported as "not available" rather than thrown, 304
// for an unchanged ETag, and a "signed-out" event on 401 so the page asks for a token again.

const TOKEN_KEY = "mainport-token";

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token.trim()),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET a JSON resource. Resolves {status, data, etag}; data is null for 304 and 404. */
export async function getJson(path, { etag = null, signal } = {}) {
  const token = session.token();
  if (!token) throw new ApiError(401, "not signed in");
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (etag) headers["If-None-Match"] = etag;
  let resp;
  try {
    resp = await fetch(path, { headers, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "the API did not answer (network error)");
  }
  if (resp.status === 304) return { status: 304, data: null, etag };
  if (resp.status === 404) return { status: 404, data: null, etag: null };
  if (resp.status === 401) {
    session.signOut();
    window.dispatchEvent(new CustomEvent("mainport:signed-out"));
    throw new ApiError(401, "the token was refused (expired or revoked?)");
  }
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const body = await resp.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(resp.status, `${path.split("?")[0]}: ${resp.status} ${detail}`);
  }
  return { status: resp.status, data: await resp.json(), etag: resp.headers.get("ETag") };
}

/** A query string from an object, skipping null/undefined values. */
export function qs(params) {
  const entries = Object.entries(params).filter(([, v]) => v !== null && v !== undefined);
  return entries.length ? "?" + new URLSearchParams(entries).toString() : "";
}

export const partnerPath = (id, rest = "") => `/api/v1/partners/${encodeURIComponent(id)}${rest}`;

let featurePaths = null;

/**
 * Which API paths this server has, from its OpenAPI document (public, fetched once). Parts of
 * the dashboard whose endpoint is missing (an older API) say so instead of requesting it, so
 * the browser logs no failed requests.
 */
export async function loadFeatures() {
  if (featurePaths) return featurePaths;
  try {
    const resp = await fetch("/openapi.json", { cache: "no-store" });
    featurePaths = resp.ok ? Object.keys((await resp.json()).paths || {}) : [];
  } catch {
    featurePaths = [];
  }
  return featurePaths;
}

/** True when a path ending in `suffix` (e.g. "/uptime") exists; assumed true before loading. */
export function has(suffix) {
  return featurePaths === null || featurePaths.some((p) => p.endsWith(suffix));
}

/**
 * A write (POST, PATCH, DELETE) with a JSON body. Resolves the parsed answer; rejects with an
 * ApiError whose `body` is the parsed error answer, so a form can put a 422's messages (FastAPI's
 * `detail` list, each naming its field in `loc`) next to the fields they are about.
 */
export async function sendJson(method, path, body = undefined) {
  const token = session.token();
  if (!token) throw new ApiError(401, "not signed in");
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch {
    throw new ApiError(0, "the API did not answer (network error)");
  }
  let parsed = null;
  try {
    parsed = await resp.json();
  } catch {
    /* no JSON body */
  }
  if (resp.status === 401) {
    session.signOut();
    window.dispatchEvent(new CustomEvent("mainport:signed-out"));
  }
  if (!resp.ok) {
    const detail = parsed && typeof parsed.detail === "string" ? parsed.detail : resp.statusText;
    const err = new ApiError(resp.status, `${resp.status} ${detail}`);
    err.body = parsed;
    throw err;
  }
  return parsed;
}
