// Page state lives in the URL query string, so that a URL reproduces a view (and can be shared).
// Writes use replaceState for tweaks (typing, sorting) and pushState for navigation-like
// changes, so the Back button moves between views rather than between keystrokes.

export function params() {
  return new URLSearchParams(location.search);
}

export function getStr(name, fallback = "") {
  const v = params().get(name);
  return v === null ? fallback : v;
}

export function getNum(name, fallback) {
  const v = params().get(name);
  const n = v === null ? NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

export function getBool(name, fallback = false) {
  const v = params().get(name);
  return v === null ? fallback : v === "1" || v === "true";
}

/** A JSON-valued parameter; a malformed one falls back instead of breaking the page. */
export function getJSON(name, fallback) {
  const v = params().get(name);
  if (v === null) return fallback;
  try {
    return JSON.parse(v);
  } catch {
    return fallback;
  }
}

/** Set (or, with null/undefined/"", remove) parameters; objects are stored as JSON. */
export function setState(values, push = false) {
  const p = params();
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === undefined || v === "" || v === false) p.delete(k);
    else if (v === true) p.set(k, "1");
    else p.set(k, typeof v === "string" || typeof v === "number" ? String(v) : JSON.stringify(v));
  }
  const qs = p.toString();
  const url = location.pathname + (qs ? `?${qs}` : "");
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}
