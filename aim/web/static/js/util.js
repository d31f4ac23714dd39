// Small DOM and formatting helpers shared by every page (no framework: plain elements).

/** Create an element: h("div", {class: "x", onclick: fn}, child, "text", [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** HTML-escape text (for the few places that build markup as strings, e.g. ANSI output). */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** Unix seconds → "2024-05-01 12:34:56" in local time (dense, sortable at a glance). */
export function fmtTime(ts) {
  if (ts === null || ts === undefined) return "";
  const d = new Date(ts * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Seconds → "1h 02m", "3m 04s", "12.3s". */
export function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

/** A cell value of any JSON type as short text (numbers rounded for reading, not storage). */
export function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(+v.toPrecision(6));
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A context dict as compact text: {"subset": "train"} → subset=train ("" for {}). */
export function fmtContext(ctx) {
  const keys = Object.keys(ctx || {});
  return keys.map((k) => `${k}=${typeof ctx[k] === "string" ? ctx[k] : JSON.stringify(ctx[k])}`).join(", ");
}

/** A metric label: loss (subset=train). */
export function metricLabel(name, ctx) {
  const c = fmtContext(ctx);
  return c ? `${name} (${c})` : name;
}

/** Stable key for a (name, context) pair: contexts compared with sorted keys. */
export function metricKey(name, ctx) {
  return JSON.stringify([name, sortKeys(ctx || {})]);
}

function sortKeys(o) {
  if (Array.isArray(o)) return o.map(sortKeys);
  if (o && typeof o === "object") {
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return o;
}

export function shortHash(hash) {
  return hash ? hash.slice(0, 8) : "";
}

/** Show a short message in the corner; errors stay until clicked (never fail silently). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, "data-testid": `toast-${kind}`, role: "status" }, message);
  el.addEventListener("click", () => el.remove());
  box.append(el);
  if (kind !== "error") setTimeout(() => el.remove(), 4000);
  return el;
}
