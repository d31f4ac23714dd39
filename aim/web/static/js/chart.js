// Chart helpers over plotly.js (global Plotly, served by aim up at /vendor/plotly.min.js):
// colours, dashes, EMA smoothing, line + min/max band traces, layouts. Traces carry
// meta = {kind: "line"|"band", id} so live updates find their trace and tests can count lines.

export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
  "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476",
];
export const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
// Above this many points in one chart, WebGL (scattergl); below, SVG. Each WebGL chart holds
// a GL context and Chromium keeps at most 16: a page of many small charts (a run's system
// metrics, one chart per group) would lose its first charts' drawings, blank.
export const GL_POINTS = 20000;

/** Switch a chart's traces to WebGL when they hold many points (see GL_POINTS). */
export function pickType(traces) {
  const total = traces.reduce((n, t) => n + (t.meta.kind === "line" ? t.x.length : 0), 0);
  const type = total > GL_POINTS ? "scattergl" : "scatter";
  for (const t of traces) t.type = type;
  return traces;
}

/** Wait for the (deferred, classic) plotly script; module scripts may run before it. */
export function plotlyReady() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      if (window.Plotly) resolve(window.Plotly);
      else if (Date.now() - t0 > 15000) reject(new Error("plotly.js did not load (/vendor/plotly.min.js)"));
      else setTimeout(poll, 30);
    };
    poll();
  });
}

/**
 * Exponential moving average, debiased as TensorBoard's (the first points are not pulled
 * towards 0). weight 0 = raw. Gaps (null) stay gaps and do not reset the average.
 */
export class Ema {
  constructor(weight) {
    this.w = weight;
    this.acc = 0;
    this.k = 0;
  }

  push(y) {
    if (y === null || y === undefined || !Number.isFinite(y) || this.w <= 0) return y;
    this.acc = this.acc * this.w + (1 - this.w) * y;
    this.k += 1;
    return this.acc / (1 - this.w ** this.k);
  }
}

export function smooth(ys, weight) {
  if (!weight) return ys.slice();
  const e = new Ema(weight);
  return ys.map((y) => e.push(y));
}

/** x values as plotly wants them: wall-clock seconds become Date-axis milliseconds. */
export function plotX(xs, xMode) {
  return xMode === "time" ? xs.map((v) => (v === null ? null : v * 1000)) : xs.slice();
}

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/**
 * The traces of one line: a min/max band when the server downsampled it (so spikes stay
 * visible), then the line itself. opts: {id, name, color, dash, smoothing, xMode, group, hover}
 */
export function lineTraces(line, opts) {
  const xs = plotX(line.x, opts.xMode);
  const out = [];
  if (line.min && line.max && line.min.length === line.x.length) {
    // One closed polygon (max forward, min backward): one trace per band, filled.
    out.push({
      type: "scatter", mode: "lines", x: xs.concat(xs.slice().reverse()),
      y: line.max.concat(line.min.slice().reverse()), fill: "toself", fillcolor: rgba(opts.color, 0.15),
      line: { width: 0, color: rgba(opts.color, 0) }, hoverinfo: "skip", showlegend: false,
      legendgroup: opts.group, meta: { kind: "band", id: opts.id },
    });
  }
  out.push({
    type: "scatter", mode: "lines", name: opts.name, x: xs, y: smooth(line.y, opts.smoothing),
    line: { color: opts.color, dash: opts.dash || "solid", width: 1.6 }, legendgroup: opts.group,
    hovertemplate: `${opts.hover || opts.name}<br>x=%{x}<br>y=%{y:.6g}<extra></extra>`,
    connectgaps: false, meta: { kind: "line", id: opts.id },
  });
  return out;
}

export function layout({ xMode = "step", logY = false, showLegend = true, height } = {}) {
  const titles = { step: "step", epoch: "epoch", relative: "seconds since start", time: "time" };
  return {
    margin: { l: 56, r: 12, t: 8, b: 40 }, height,
    xaxis: { title: { text: titles[xMode] || xMode, font: { size: 11 } }, type: xMode === "time" ? "date" : "linear",
      zeroline: false, gridcolor: "#eef0f4" },
    yaxis: { type: logY ? "log" : "linear", zeroline: false, gridcolor: "#eef0f4", exponentformat: "e" },
    showlegend: showLegend, legend: { font: { size: 11 }, orientation: "v" },
    hovermode: "closest", font: { family: "system-ui, sans-serif", size: 11 },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff", uirevision: "keep",
  };
}

export const CONFIG = { responsive: true, displaylogo: false, scrollZoom: false,
  modeBarButtonsToRemove: ["lasso2d", "select2d"] };

/** Index of the trace with meta.kind === kind and meta.id === id in a chart div, or -1. */
export function traceIndex(div, id, kind = "line") {
  const data = div.data || [];
  for (let i = 0; i < data.length; i++) {
    const m = data[i].meta;
    if (m && m.id === id && m.kind === kind) return i;
  }
  return -1;
}

/**
 * Append a live "points" event to its line in `lines` (a Map by `id`; the line is made when
 * new): only the points past what the line has, since a reconnect may resend (`n` is the
 * line's total count). Returns {line, nx, ny}, or null when nothing was new.
 */
export function appendPoints(lines, id, ev) {
  let line = lines.get(id);
  if (!line) {
    line = { id, run: ev.run, name: ev.name, context: ev.context, x: [], y: [], min: null, max: null, n: 0, last_step: -1 };
    lines.set(id, line);
  }
  const fresh = Math.min(ev.x.length, ev.n - line.n);
  if (fresh <= 0) return null;
  const nx = ev.x.slice(ev.x.length - fresh);
  const ny = ev.y.slice(ev.y.length - fresh);
  line.x.push(...nx);
  line.y.push(...ny);
  line.n = ev.n;
  line.last_step = ev.last_step;
  return { line, nx, ny };
}
