// The AimQL query bar: an input with autocomplete (run attributes, param keys and metrics from
// /api/info) and an error marker under the text at the column the server reports. The query
// is checked as one types (debounced /api/query) and run on Enter.

import { api, getInfo } from "./api.js";
import { debounce, h } from "./util.js";

const ATTRS = ["hash", "name", "experiment", "description", "status", "tags", "archived", "active",
  "duration", "created_at", "finalized_at", "creation_time", "end_time"];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_SHOWN = 12;

/** How a query names a param: run.hparams.lr, or run["odd key", "x"] when not identifiers. */
export function paramExpr(path) {
  return path.every((k) => IDENT.test(k)) ? `run.${path.join(".")}` : `run[${path.map((k) => JSON.stringify(k)).join(", ")}]`;
}

export function metricExpr(name, context) {
  const ctx = Object.keys(context || {}).length ? `, ${JSON.stringify(context).replace(/":/g, '": ').replace(/,"/g, ', "')}` : "";
  return `run.metrics[${JSON.stringify(name)}${ctx}].last`;
}

/** Suggestions: [{text, hint}], from /api/info. */
async function suggestions() {
  const info = await getInfo();
  const out = ATTRS.map((a) => ({ text: `run.${a}`, hint: "attribute", key: a }));
  for (const p of info.params) out.push({ text: paramExpr(p.split(".")), hint: "param", key: p });
  for (const s of info.sequences) {
    out.push({ text: metricExpr(s.name, s.context), hint: "metric", key: s.name });
  }
  return out;
}

/**
 * Build the bar. onSubmit(query) runs it; returns {el, setValue, showError, clearError, focus}.
 */
export function queryBar({ value = "", placeholder = "", onSubmit }) {
  const input = h("input", {
    type: "text", class: "query-input", id: "query-input", "data-testid": "query-input",
    spellcheck: "false", autocomplete: "off", placeholder,
  });
  input.value = value;
  const list = h("ul", { class: "autocomplete", "data-testid": "autocomplete", hidden: true });
  const errorBox = h("div", { class: "query-error", "data-testid": "query-error", hidden: true });
  const go = h("button", { class: "primary", "data-testid": "query-run", type: "button" }, "Search");
  const el = h("div", { class: "query-bar" },
    h("div", { class: "query-row" }, h("div", { class: "query-field" }, input, list), go), errorBox);

  let items = [];
  let active = -1;
  let pool = null;
  suggestions().then((s) => { pool = s; }).catch(() => { pool = []; });

  function tokenAt() {
    const upto = input.value.slice(0, input.selectionStart);
    const m = upto.match(/[A-Za-z_][\w.]*$/);
    return m ? { text: m[0], start: upto.length - m[0].length } : null;
  }

  function refresh() {
    const tok = tokenAt();
    if (!pool || !tok || tok.text.length < 2) return close();
    const t = tok.text.toLowerCase();
    const scored = [];
    for (const s of pool) {
      const text = s.text.toLowerCase();
      if (text === t) continue;
      // "run.hp…", or the key without "run." ("hparams.l…", "loss"): both find run.hparams.lr.
      if (text.startsWith(t) || text.startsWith(`run.${t}`)) scored.push([0, s]);
      else if (s.key.toLowerCase().includes(t)) scored.push([1, s]);
    }
    scored.sort((a, b) => a[0] - b[0] || a[1].text.length - b[1].text.length);
    items = scored.slice(0, MAX_SHOWN).map(([, s]) => s);
    if (!items.length) return close();
    active = 0;
    list.replaceChildren(...items.map((s, i) => h("li", {
      class: i === active ? "active" : "", "data-testid": "autocomplete-item",
      onmousedown: (ev) => { ev.preventDefault(); accept(i); },
    }, h("code", {}, s.text), h("span", { class: "hint" }, s.hint))));
    list.hidden = false;
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    items = [];
    active = -1;
  }

  function accept(i) {
    const tok = tokenAt();
    const s = items[i];
    if (!tok || !s) return close();
    const before = input.value.slice(0, tok.start);
    const after = input.value.slice(input.selectionStart);
    input.value = before + s.text + after;
    const caret = before.length + s.text.length;
    input.setSelectionRange(caret, caret);
    close();
    check();
  }

  function move(d) {
    if (!items.length) return;
    active = (active + d + items.length) % items.length;
    [...list.children].forEach((li, i) => li.classList.toggle("active", i === active));
  }

  const check = debounce(async () => {
    const q = input.value;
    try {
      await api.checkQuery(q);
      if (input.value === q) clearError();
    } catch (e) {
      if (input.value === q) showError(e, q);
    }
  }, 350);

  input.addEventListener("input", () => { refresh(); check(); });
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (ev) => {
    if (!list.hidden && items.length) {
      if (ev.key === "ArrowDown") { ev.preventDefault(); return move(1); }
      if (ev.key === "ArrowUp") { ev.preventDefault(); return move(-1); }
      if (ev.key === "Tab" || ev.key === "Enter") { ev.preventDefault(); return accept(active); }
      if (ev.key === "Escape") { ev.preventDefault(); return close(); }
    }
    if (ev.key === "Enter") {
      ev.preventDefault();
      close();
      onSubmit(input.value.trim());
    }
  });
  go.addEventListener("click", () => onSubmit(input.value.trim()));

  /** Show an error; with a column, the query line and a caret under that column. */
  function showError(err, text = input.value) {
    errorBox.replaceChildren();
    errorBox.hidden = false;
    input.classList.add("invalid");
    if (err.column) {
      const lines = text.split("\n");
      const line = lines[(err.line || 1) - 1] ?? "";
      errorBox.append(h("pre", { class: "query-caret", "data-testid": "query-caret" },
        line, "\n", " ".repeat(Math.max(0, err.column - 1)), h("span", { class: "caret" }, "^")));
      input.title = err.message;
    }
    errorBox.append(h("div", { class: "query-error-message", "data-testid": "query-error-message" }, err.message));
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
    input.classList.remove("invalid");
    input.title = "";
  }

  return {
    el, showError, clearError,
    setValue: (v) => { input.value = v; },
    focus: () => input.focus(),
    input,
  };
}
