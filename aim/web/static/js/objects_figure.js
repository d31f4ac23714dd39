// One step of a figure sequence: each figure is stored as plotly JSON ({data, layout}, a
// matplotlib figure converted by the SDK), fetched as a blob and drawn with Plotly.react.
// Figures are fetched only for the chosen step, kept parsed in a small cache (moving the slider
// back and forth redraws without refetching), and an answer for a step no longer chosen is
// dropped (slow answers must not overwrite the figure of the step now shown).

import { blobText } from "./api.js";
import { CONFIG, plotlyReady } from "./chart.js";
import { h } from "./util.js";

const CACHE = 32; // parsed figures kept per sequence

export function figuresView(hash) {
  const el = h("div", { class: "obj-figures", "data-testid": "obj-figures" });
  const cache = new Map(); // sha256 → parsed figure (Map keeps insertion order: oldest first)
  let shown = 0; // which show() call is current

  async function load(item) {
    if (cache.has(item.sha256)) return cache.get(item.sha256);
    const fig = JSON.parse(await blobText(hash, item));
    cache.set(item.sha256, fig);
    if (cache.size > CACHE) cache.delete(cache.keys().next().value);
    return fig;
  }

  return {
    el,
    async show(items) {
      const my = ++shown;
      const Plotly = await plotlyReady();
      // One chart div per figure of the step; divs are reused so plotly redraws in place.
      while (el.children.length > items.length) el.lastElementChild.remove();
      while (el.children.length < items.length) {
        el.append(h("div", { class: "obj-figure" }, h("div", { class: "chart", "data-testid": "obj-figure" }),
          h("div", { class: "error", "data-testid": "obj-figure-error" })));
      }
      await Promise.all(items.map(async (item, i) => {
        const [div, err] = el.children[i].children;
        let fig;
        try {
          fig = await load(item);
        } catch (e) {
          if (my === shown) err.textContent = `figure: ${e.message}`;
          return;
        }
        if (my !== shown) return;
        err.textContent = "";
        // The figure's own layout, but sized by the card (a tracked width/height would overflow it).
        // Plotly's default margins (80 px a side, 100 on top) waste a small card: tighter ones
        // unless the figure chose its own.
        const own = fig.layout || {};
        const margin = own.margin || { l: 48, r: 12, t: own.title ? 40 : 12, b: 40 };
        const layout = { ...own, margin, autosize: true, width: undefined, height: undefined };
        await Plotly.react(div, fig.data || [], layout, CONFIG);
      }));
    },
  };
}
