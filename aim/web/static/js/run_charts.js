// The run page's charts: one chart per metric name (a line per context), system metrics
// (__system__*) in their own grid, drawn from /api/series for this one run and extended live.

import { api } from "./api.js";
import { appendPoints, CONFIG, layout, lineTraces, PALETTE, plotlyReady, traceIndex } from "./chart.js";
import { fmtContext, h, metricKey } from "./util.js";

const MAX_METRICS = 32; // the server's limit per /api/series request
const POINTS = 800;

export function isSystem(name) {
  return name.startsWith("__system__");
}

/**
 * charts(runHash, sequences, {metricsBox, systemBox}) → {lines, extend(ev), redraw()}.
 * Lines are keyed like the metrics explorer's: hash|[name, context].
 */
export async function runCharts(hash, sequences, { metricsBox, systemBox }) {
  const state = { lines: new Map(), divs: new Map() };
  const q = `run.hash == ${JSON.stringify(hash)}`;
  const specs = sequences.map((s) => [s.name, s.context]);
  for (let i = 0; i < specs.length; i += MAX_METRICS) {
    const data = await api.series({ q, metrics: specs.slice(i, i + MAX_METRICS), points: String(POINTS) });
    for (const line of data.lines) {
      line.id = `${hash}|${metricKey(line.name, line.context)}`;
      state.lines.set(line.id, line);
    }
  }

  async function redraw() {
    const Plotly = await plotlyReady();
    const byName = new Map();
    for (const line of state.lines.values()) {
      if (!byName.has(line.name)) byName.set(line.name, []);
      byName.get(line.name).push(line);
    }
    const names = [...byName.keys()].sort();
    for (const [box, system] of [[metricsBox, false], [systemBox, true]]) {
      const mine = names.filter((n) => isSystem(n) === system);
      if (!mine.length) {
        box.replaceChildren(h("div", { class: "muted" }, system ? "No system metrics." : "No metrics."));
        continue;
      }
      for (const el of [...box.children]) if (!el.dataset.metric) el.remove();
      for (const name of mine) {
        let card = box.querySelector(`[data-metric="${CSS.escape(name)}"]`);
        if (!card) {
          const title = system ? name.slice("__system__".length) : name;
          card = h("div", { class: "chart-card", "data-testid": system ? "system-chart-card" : "metric-chart-card" },
            h("h3", {}, title), h("div", { class: `chart${system ? " small" : ""}`, "data-testid": system ? "system-chart" : "metric-chart" }));
          card.dataset.metric = name;
          box.append(card);
        }
        const div = card.querySelector(".chart");
        const lines = byName.get(name);
        const traces = lines.flatMap((line, i) => {
          const label = fmtContext(line.context) || name;
          state.divs.set(line.id, div);
          return lineTraces(line, { id: line.id, name: label, color: PALETTE[i % PALETTE.length], xMode: "step", group: label });
        });
        await Plotly.react(div, traces, layout({ showLegend: lines.length > 1 }), CONFIG);
      }
    }
  }

  /** A live "points" event: append to the trace (or draw again for a line not seen yet). */
  function extend(ev) {
    const id = `${ev.run}|${metricKey(ev.name, ev.context)}`;
    const added = appendPoints(state.lines, id, ev);
    if (!added) return false;
    const { nx, ny } = added;
    const div = state.divs.get(id);
    const i = div ? traceIndex(div, id) : -1;
    if (i < 0) return true; // the caller redraws
    window.Plotly.extendTraces(div, { x: [nx], y: [ny] }, [i]);
    return false;
  }

  function watch(seqs) {
    return seqs.map((s) => {
      const line = state.lines.get(`${hash}|${metricKey(s.name, s.context)}`);
      return [hash, s.name, s.context, line ? line.last_step : -1];
    });
  }

  await redraw();
  return { state, redraw, extend, watch };
}
