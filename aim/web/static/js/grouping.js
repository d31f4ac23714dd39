// Grouping of lines for the metrics explorer: a field names what lines share a colour, a dash
// or a chart. Fields are short strings so they fit the URL:
//   "a:experiment" (a run attribute), "p:hparams.lr" (a param, dotted), "c:subset" (a context
//   key), "metric" (the metric's name + context), "" (none).

import { metricLabel, shortHash } from "./util.js";

export const ATTR_FIELDS = ["experiment", "name", "status", "tags"];

/** The options a group-by select offers: [value, label]. */
export function fieldOptions(info, chosenMetrics) {
  const ctxKeys = new Set();
  for (const [, ctx] of chosenMetrics) Object.keys(ctx || {}).forEach((k) => ctxKeys.add(k));
  return [
    ["", "—"],
    ["metric", "metric"],
    ...ATTR_FIELDS.map((a) => [`a:${a}`, `run.${a}`]),
    ...[...ctxKeys].sort().map((k) => [`c:${k}`, `context.${k}`]),
    ...info.params.map((p) => [`p:${p}`, p]),
  ];
}

function paramAt(params, dotted) {
  let node = params;
  for (const k of dotted.split(".")) {
    if (!node || typeof node !== "object" || !(k in node)) return undefined;
    node = node[k];
  }
  return node;
}

/** The value of a field for one line (as text: it is a legend label and a map key). */
export function groupValue(field, line, run) {
  if (!field) return "";
  let v;
  if (field === "metric") return metricLabel(line.name, line.context);
  if (field.startsWith("a:")) v = run ? run[field.slice(2)] : undefined;
  else if (field.startsWith("c:")) v = (line.context || {})[field.slice(2)];
  else if (field.startsWith("p:")) v = run ? paramAt(run.params, field.slice(2)) : undefined;
  if (v === undefined || v === null) return "—";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function fieldLabel(field) {
  if (!field) return "";
  if (field === "metric") return "metric";
  if (field.startsWith("a:")) return `run.${field.slice(2)}`;
  if (field.startsWith("c:")) return `context.${field.slice(2)}`;
  return field.slice(2);
}

export function runLabel(run, hash) {
  return run && run.name ? `${run.name} (${shortHash(hash)})` : shortHash(hash);
}

/**
 * Assigns each distinct value an index in order of first appearance, so that colours and
 * dashes are stable while lines are added (a new run does not recolour the others).
 */
export class Indexer {
  constructor() {
    this.map = new Map();
  }

  of(value) {
    if (!this.map.has(value)) this.map.set(value, this.map.size);
    return this.map.get(value);
  }
}
