// Forms of the registry pages. Every input has a visible label and its own message slot
// (aria-describedby, aria-invalid). The browser's own validation is off (novalidate): the API is
// the one judge, and its refusal is shown where it belongs — a 422's `detail` entries by their
// `loc` (["body", "interval_s"] → the interval field), a 409's "field: message" likewise, anything
// else above the buttons. Values go out as typed (a number only when the text is one), so the API's
// own message ("Input should be a valid integer") reaches the operator.

import { qs } from "./api.js";
import { el, zoneName } from "./format.js";

export const EFFECTIVE_HINT = `Your local time (${zoneName}); empty: now.`;

const LOC_ROOTS = new Set(["body", "query", "path"]);

/** `datetime-local` text (the browser's zone) as RFC 3339 UTC; "" stays "". */
export function isoFromLocal(value) {
  if (!value) return "";
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().replace(".000Z", "Z");
}

/** RFC 3339 as `datetime-local` text in the browser's zone. */
export function localFromIso(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function numberOrText(text) {
  const trimmed = text.trim();
  return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

// How each kind of field turns its text into the JSON value sent; `undefined`: a local error.
const CONVERT = {
  text: (v) => v.trim(),
  number: numberOrText,
  datetime: isoFromLocal,
  list: (v) => v.split(",").map((s) => s.trim()).filter(Boolean),
  json: (v) => {
    try {
      return JSON.parse(v);
    } catch {
      return undefined;
    }
  },
};

const SHOW = {
  text: (v) => (v === null || v === undefined ? "" : String(v)),
  number: (v) => (v === null || v === undefined ? "" : String(v)),
  datetime: localFromIso,
  list: (v) => (Array.isArray(v) ? v.join(", ") : ""),
  json: (v) => (v && Object.keys(v).length ? JSON.stringify(v) : ""),
};

/**
 * One form. `fields`: [{name, label, kind: text|number|datetime|list|json, hint, required,
 * options (suggestions), value, nullable}]. `mode` "create" sends the non-empty fields, "edit"
 * only those changed from their initial value (emptied: null when `nullable`). `onSubmit(body)`
 * returns a promise; its ApiError is shown in the form.
 */
export class EntityForm {
  constructor({ id, title, fields, submitText, mode = "create", onSubmit, onCancel, danger = false, note }) {
    this.id = id;
    this.mode = mode;
    this.onSubmit = onSubmit;
    this.fields = new Map();
    this.formError = el("p", { className: "form-error", id: `${id}-error`, hidden: true, attrs: { role: "alert" } });
    const rows = fields.map((spec) => this.row(spec));
    const submit = el("button", { type: "submit", className: danger ? "danger" : "primary" }, submitText);
    const buttons = el("div", { className: "form-buttons" }, submit);
    if (onCancel) {
      const cancel = el("button", { type: "button", className: "cancel" }, "Cancel");
      cancel.addEventListener("click", onCancel);
      buttons.append(cancel);
    }
    this.node = el("form", { id, className: "entity-form", noValidate: true, attrs: { "aria-labelledby": `${id}-title` } },
      el("h3", { id: `${id}-title` }, title),
      note ? el("p", { className: "hint" }, note) : null,
      el("div", { className: "form-fields" }, ...rows),
      this.formError, buttons);
    this.node.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  row(spec) {
    const kind = spec.kind || "text";
    const inputId = `${this.id}-${spec.name.replace(/[^a-z0-9]/gi, "-")}`;
    const errorId = `${inputId}-error`;
    const hintId = `${inputId}-hint`;
    const props = {
      id: inputId, name: spec.name,
      attrs: { "aria-describedby": spec.hint ? `${hintId} ${errorId}` : errorId, autocomplete: "off", spellcheck: "false" },
    };
    let input;
    if (kind === "json") input = el("textarea", { ...props, rows: 2 });
    else if (kind === "datetime") input = el("input", { ...props, type: "datetime-local" });
    else {
      input = el("input", { ...props, type: "text" });
      if (kind === "number") input.inputMode = "decimal";
    }
    let list = null;
    if (spec.options && kind !== "datetime") {
      list = el("datalist", { id: `${inputId}-options` }, ...spec.options.map((o) => el("option", { value: o })));
      input.setAttribute("list", list.id);
    }
    if (spec.required) input.setAttribute("aria-required", "true");
    const initial = SHOW[kind](spec.value);
    input.value = initial;
    input.defaultValue = initial; // a reset after a success restores it
    const error = el("span", { className: "field-error", id: errorId, hidden: true });
    const wrap = el("div", { className: "field", dataset: { field: spec.name } },
      el("label", { htmlFor: inputId }, spec.label, spec.required ? el("span", { className: "req", attrs: { "aria-hidden": "true" } }, " *") : null),
      input, list,
      spec.hint ? el("span", { className: "field-hint", id: hintId }, spec.hint) : null,
      error);
    this.fields.set(spec.name, { spec, kind, input, error, wrap, initial });
    return wrap;
  }

  /** The JSON body, or null after marking the fields that cannot be read (bad JSON). */
  body() {
    const out = {};
    let ok = true;
    for (const [name, f] of this.fields) {
      const text = f.input.value;
      if (this.mode === "edit" && text === f.initial) continue;
      if (text.trim() === "") {
        if (this.mode === "edit") out[name] = f.spec.nullable ? null : "";
        continue;
      }
      const value = CONVERT[f.kind](text);
      if (value === undefined) {
        this.fieldError(name, "not valid JSON");
        ok = false;
        continue;
      }
      out[name] = value;
    }
    return ok ? out : null;
  }

  async submit() {
    this.clearErrors();
    const body = this.body();
    if (body === null) return;
    this.node.setAttribute("aria-busy", "true");
    try {
      await this.onSubmit(body);
    } catch (err) {
      this.showError(err);
    } finally {
      this.node.removeAttribute("aria-busy");
    }
  }

  clearErrors() {
    this.formError.hidden = true;
    this.formError.textContent = "";
    for (const f of this.fields.values()) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
      delete f.wrap.dataset.invalid;
    }
  }

  fieldError(name, message) {
    const f = this.fields.get(name);
    if (!f) return false;
    f.error.textContent = f.error.textContent ? `${f.error.textContent}; ${message}` : message;
    f.error.hidden = false;
    f.input.setAttribute("aria-invalid", "true");
    f.wrap.dataset.invalid = "true";
    return true;
  }

  /** The field a 422 `loc` is about: the whole path, a shorter prefix, or its last part. */
  fieldFor(loc) {
    const parts = (loc || []).map(String).filter((p, i) => !(i === 0 && LOC_ROOTS.has(p)) && p !== "");
    for (let n = parts.length; n > 0; n -= 1) {
      const name = parts.slice(0, n).join(".");
      if (this.fields.has(name)) return name;
    }
    const last = parts[parts.length - 1];
    return last && this.fields.has(last) ? last : null;
  }

  /** The API's refusal next to the fields it names; the rest (and other errors) above the buttons. */
  showError(err) {
    const general = [];
    const detail = err && err.body ? err.body.detail : null;
    if (Array.isArray(detail)) {
      for (const d of detail) {
        const name = this.fieldFor(d.loc);
        if (!(name && this.fieldError(name, d.msg))) general.push(d.msg);
      }
    } else if (typeof detail === "string") {
      const m = detail.match(/^([A-Za-z_][\w.]*): (.+)$/s);
      const name = m ? this.fieldFor(["body", ...m[1].split(".")]) : null;
      if (!(name && this.fieldError(name, m[2]))) general.push(detail);
    } else {
      general.push(err instanceof Error ? err.message : String(err));
    }
    if (general.length) {
      this.formError.textContent = general.join(" ");
      this.formError.hidden = false;
    }
    const first = this.node.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }
}

/** A row's action button (a real button, named with the entity for screen readers). */
export function action(text, label, onClick, className = "") {
  const b = el("button", { type: "button", className: `small ${className}`.trim(), attrs: { "aria-label": label } }, text);
  b.addEventListener("click", onClick);
  return b;
}

/** A retirement / cancellation asked for in place of a dialog: effective time and confirm. */
export function retireForm({ id, title, note, effective, submitText, onSubmit, onCancel }) {
  const fields = effective ? [{ name: "effective_from", label: "Effective from", kind: "datetime", hint: EFFECTIVE_HINT }] : [];
  return new EntityForm({ id, title, note, fields, submitText, danger: true, onSubmit, onCancel });
}

/** The query string of a retirement with an effective time ("" when now). */
export function effectiveQuery(body) {
  return body.effective_from ? qs({ effective_from: body.effective_from }) : "";
}

/** What a write answered ({changes: [...]}) as one line for the status area. */
export function changesText(out, fallback) {
  return out && Array.isArray(out.changes) && out.changes.length ? out.changes.join("; ") : fallback;
}

/** Put a form in an editor slot and move the focus into it. */
export function openEditor(box, form) {
  box.replaceChildren(form.node);
  const first = form.node.querySelector("input, textarea, button");
  if (first) first.focus();
}
