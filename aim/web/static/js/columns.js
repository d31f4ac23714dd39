// The runs table's column picker: any param (from /api/info's dotted keys) or any metric's last
// value (name + context) can be a column. Columns are the server's JSON specs, so they travel in
// the URL as they are sent to /api/runs.

import { getInfo } from "./api.js";
import { h, metricLabel } from "./util.js";

export function columnLabel(spec) {
  if (spec[0] === "param") return spec.slice(1).join(".");
  if (spec[0] === "metric") return metricLabel(spec[1], spec[2] || {});
  return spec[1];
}

export function sameColumn(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A "Columns" button with a popover of checkboxes. getCols() gives the chosen specs, and
 * onChange(specs) is called with the new list whenever one is toggled.
 */
export function columnPicker({ getCols, onChange }) {
  const button = h("button", { type: "button", "data-testid": "columns-button", id: "columns-button" }, "Columns ▾");
  const filter = h("input", { type: "search", placeholder: "filter params and metrics…", "data-testid": "columns-filter" });
  const body = h("div", { class: "picker-body" });
  const panel = h("div", { class: "popover", "data-testid": "columns-panel", hidden: true }, filter, body);
  const el = h("div", { class: "picker" }, button, panel);

  async function render() {
    let info;
    try {
      info = await getInfo();
    } catch (e) {
      body.replaceChildren(h("div", { class: "error" }, e.message));
      return;
    }
    const f = filter.value.trim().toLowerCase();
    const chosen = getCols();
    const option = (spec) => {
      const label = columnLabel(spec);
      if (f && !label.toLowerCase().includes(f)) return null;
      const on = chosen.some((c) => sameColumn(c, spec));
      const box = h("input", { type: "checkbox", checked: on, "data-column": JSON.stringify(spec) });
      box.addEventListener("change", () => {
        const now = getCols().filter((c) => !sameColumn(c, spec));
        onChange(box.checked ? [...now, spec] : now);
      });
      return h("label", { class: "picker-option", "data-testid": "column-option" }, box, label);
    };
    const params = info.params.map((p) => option(["param", ...p.split(".")])).filter(Boolean);
    const seqs = info.sequences.filter((s) => !s.name.startsWith("__system__"));
    const system = info.sequences.filter((s) => s.name.startsWith("__system__"));
    const metrics = seqs.map((s) => option(["metric", s.name, s.context])).filter(Boolean);
    const sys = system.map((s) => option(["metric", s.name, s.context])).filter(Boolean);
    // Wrapped in h(): replaceChildren itself would print arrays and nulls as text.
    body.replaceChildren(h("div", {},
      h("div", { class: "picker-section" }, "Params"), params.length ? params : h("div", { class: "muted" }, "none"),
      h("div", { class: "picker-section" }, "Metrics (last value)"), metrics.length ? metrics : h("div", { class: "muted" }, "none"),
      sys.length ? [h("div", { class: "picker-section" }, "System"), sys] : null,
    ));
  }

  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      render();
      filter.focus();
    }
  });
  filter.addEventListener("input", render);
  document.addEventListener("mousedown", (ev) => {
    if (!el.contains(ev.target)) panel.hidden = true;
  });
  return { el, render };
}
