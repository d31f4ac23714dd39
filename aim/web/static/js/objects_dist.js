// A distribution sequence: a heatmap of its histograms over steps (x = step, y = value,
// colour = count) and the chosen step's histogram as bars.
//
// Each step's histogram has its own range (numpy's, from that step's min and max), so the
// columns of the heatmap do not share bins. They are re-binned onto one grid spanning every
// step's range, each source bin's count spread over the grid bins it overlaps in proportion to
// the overlap (counts are kept: a column sums to what its histogram summed to). The bars show
// the chosen step's own bins, unchanged.

import { CONFIG, plotlyReady } from "./chart.js";
import { h } from "./util.js";

const MAX_BINS = 200; // rows of the heatmap: enough for the eye, small for 1,000 columns

/** Each step's first histogram (a step holds one distribution per name and context). */
function histograms(data) {
  return data.steps.map((s) => ({ step: s.step, hist: s.items.length ? s.items[0].content : null }))
    .filter((s) => s.hist && Array.isArray(s.hist.weights) && s.hist.weights.length);
}

/** [lo, hi] of a histogram; a range of one value (every sample equal) gets width 1. */
function span(hist) {
  let [lo, hi] = hist.range || [0, hist.weights.length];
  if (!(hi > lo)) {
    lo -= 0.5;
    hi = lo + 1;
  }
  return [lo, hi];
}

/** Spread a histogram's counts over n equal bins on [lo, hi] (see the module's comment). */
export function rebin(hist, lo, hi, n) {
  const out = new Array(n).fill(0);
  const [a, b] = span(hist);
  const k = hist.weights.length;
  if (a === lo && b === hi && k === n) return hist.weights.slice();
  const w = (b - a) / k;
  const g = (hi - lo) / n;
  for (let j = 0; j < k; j++) {
    const c = hist.weights[j];
    if (!c) continue;
    const s0 = a + j * w;
    const s1 = s0 + w;
    const first = Math.max(0, Math.floor((s0 - lo) / g));
    const last = Math.min(n - 1, Math.ceil((s1 - lo) / g) - 1);
    for (let t = first; t <= last; t++) {
      const overlap = Math.min(s1, lo + (t + 1) * g) - Math.max(s0, lo + t * g);
      if (overlap > 0) out[t] += (c * overlap) / w;
    }
  }
  return out;
}

export function distributionView(seq, data) {
  const heat = h("div", { class: "chart small", "data-testid": "obj-dist-heatmap" });
  const bars = h("div", { class: "chart small", "data-testid": "obj-dist-bars" });
  const el = h("div", { class: "obj-dist" }, heat, bars);
  const hs = histograms(data);
  const byStep = new Map(hs.map((s) => [s.step, s.hist]));
  let drawn = null; // the heatmap is drawn once (a promise: shows may overlap), then only its marker moves

  async function drawHeatmap(Plotly) {
    let lo = Infinity;
    let hi = -Infinity;
    let n = 1;
    for (const { hist } of hs) {
      const [a, b] = span(hist);
      lo = Math.min(lo, a);
      hi = Math.max(hi, b);
      n = Math.max(n, hist.weights.length);
    }
    n = Math.min(n, MAX_BINS);
    const g = (hi - lo) / n;
    const y = Array.from({ length: n }, (_, i) => lo + (i + 0.5) * g);
    const cols = hs.map((s) => rebin(s.hist, lo, hi, n));
    // Plotly wants z[row][column]: a row per bin, a column per step.
    const z = y.map((_, r) => cols.map((col) => col[r]));
    const trace = { type: "heatmap", x: hs.map((s) => s.step), y, z, colorscale: "Viridis",
      hovertemplate: "step %{x}<br>value %{y:.4g}<br>count %{z:.4g}<extra></extra>",
      colorbar: { thickness: 10 }, meta: { kind: "dist-heatmap" } };
    await Plotly.react(heat, [trace], chartLayout("step", "value"), CONFIG);
    // Clicking a column chooses that step (the slider follows).
    heat.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (p && view.onPick) view.onPick(p.x);
    });
  }

  const view = {
    el,
    onPick: null, // set by the caller: a step number clicked in the heatmap
    async show(_items, step) {
      if (!hs.length) {
        el.replaceChildren(h("div", { class: "muted" }, "No histograms."));
        return;
      }
      const Plotly = await plotlyReady();
      if (!drawn) drawn = drawHeatmap(Plotly);
      await drawn;
      // A line on the heatmap at the chosen step.
      Plotly.relayout(heat, { shapes: [{ type: "line", xref: "x", yref: "paper", x0: step, x1: step, y0: 0, y1: 1,
        line: { color: "#ff4d4f", width: 1.5 } }] });
      const hist = byStep.get(step);
      if (!hist) return;
      const [a, b] = span(hist);
      const w = (b - a) / hist.weights.length;
      const trace = { type: "bar", x: hist.weights.map((_, i) => a + (i + 0.5) * w), y: hist.weights,
        width: w, marker: { color: "#2f6fde" }, meta: { kind: "dist-bars", step },
        hovertemplate: "%{x:.4g}: %{y}<extra></extra>" };
      await Plotly.react(bars, [trace], { ...chartLayout("value", `count at step ${step}`), bargap: 0 }, CONFIG);
    },
  };
  return view;
}

function chartLayout(xTitle, yTitle) {
  return {
    margin: { l: 56, r: 12, t: 8, b: 40 }, font: { family: "system-ui, sans-serif", size: 11 },
    xaxis: { title: { text: xTitle, font: { size: 11 } }, zeroline: false },
    yaxis: { title: { text: yTitle, font: { size: 11 } }, zeroline: false, gridcolor: "#eef0f4" },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff", uirevision: "keep", showlegend: false,
  };
}
