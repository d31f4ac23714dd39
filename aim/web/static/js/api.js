// The one place that talks to the server: JSON in and out, errors as ApiError.
// Every error response of aim up is JSON {error, line?, column?}; callers show error.message.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.column = body && body.column ? body.column : null;
    this.line = body && body.line ? body.line : null;
  }
}

async function request(method, path, params, body) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    url.searchParams.set(k, typeof v === "string" ? v : JSON.stringify(v));
  }
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, { error: `cannot reach aim up (${e.message})` });
  }
  let data = null;
  const text = await res.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text.slice(0, 200) || `HTTP ${res.status}` };
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  info: () => request("GET", "/api/info"),
  checkQuery: (q) => request("GET", "/api/query", { q }),
  runs: (params) => request("GET", "/api/runs", params),
  series: (params) => request("GET", "/api/series", params),
  run: (hash) => request("GET", `/api/runs/${hash}`),
  logs: (hash, after) => request("GET", `/api/runs/${hash}/logs`, { after: String(after || 0) }),
  edit: (hash, body) => request("PATCH", `/api/runs/${hash}`, undefined, body),
  remove: (hash) => request("DELETE", `/api/runs/${hash}`),
  restore: (hash) => request("POST", `/api/runs/${hash}/restore`),
  objects: (hash) => request("GET", `/api/runs/${hash}/objects`),
  objectSteps: (hash, kind, name, context) =>
    request("GET", `/api/runs/${hash}/objects/steps`, { kind, name, context: context || {} }),
};

/**
 * The URL of one tracked object's bytes (an item of /objects/steps). Blobs are named by their
 * SHA-256 and stored compressed or not (item.zst): the server needs to know which to read.
 * Same URL, same bytes: the server caches them immutably, so <img>/<audio> reuse them.
 */
export function blobUrl(hash, item) {
  return `/api/runs/${hash}/blobs/${item.sha256}${item.zst ? "?zst=1" : ""}`;
}

/** A blob's text (a figure's plotly JSON), errors as ApiError like the JSON calls. */
export async function blobText(hash, item) {
  let res;
  try {
    res = await fetch(blobUrl(hash, item), { credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, { error: `cannot reach aim up (${e.message})` });
  }
  const text = await res.text();
  if (!res.ok) {
    let body = null;
    try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 200) }; }
    throw new ApiError(res.status, body);
  }
  return text;
}

/** /api/info, fetched once per page load (autocomplete, pickers, read-only flag). */
let infoPromise = null;
export function getInfo(refresh = false) {
  if (!infoPromise || refresh) infoPromise = api.info().catch((e) => { infoPromise = null; throw e; });
  return infoPromise;
}

/** The URL of the live stream for lines the page draws: [[hash, name, context, last_step]]. */
export function liveUrl(watch, x) {
  const url = new URL("/api/live", location.origin);
  url.searchParams.set("watch", JSON.stringify(watch));
  url.searchParams.set("x", x || "step");
  return url.toString();
}
