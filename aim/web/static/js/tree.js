// A JSON value as a collapsible tree (<details>/<summary>: keyboard and screen-reader friendly
// for free). Objects deeper than `openDepth` start collapsed, so a big config stays readable.

import { h } from "./util.js";

function leafValue(v) {
  const type = v === null ? "null" : typeof v === "boolean" ? "bool" : typeof v;
  const text = typeof v === "string" ? JSON.stringify(v) : v === null ? "null" : String(v);
  return h("span", { class: `v-${type}` }, text);
}

function node(key, value, depth, openDepth, path) {
  const p = path ? `${path}.${key}` : String(key);
  if (value && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const d = h("details", { open: depth < openDepth, "data-path": p },
      h("summary", {}, h("span", { class: "key" }, key), h("span", { class: "muted" },
        Array.isArray(value) ? ` [${entries.length}]` : ` {${entries.length}}`)),
      entries.map(([k, v]) => node(k, v, depth + 1, openDepth, p)));
    return d;
  }
  return h("div", { class: "leaf", "data-testid": "param-leaf", "data-path": p },
    h("span", { class: "key" }, key), ": ", leafValue(value));
}

export function jsonTree(value, openDepth = 2) {
  const entries = value && typeof value === "object" ? Object.entries(value) : [];
  if (!entries.length) return h("div", { class: "muted" }, "No params.");
  return h("div", { class: "tree", "data-testid": "params-tree" }, entries.map(([k, v]) => node(k, v, 0, openDepth, "")));
}
