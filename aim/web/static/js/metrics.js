// The metrics explorer (/metrics): lines of the chosen metrics over the runs a query selects,
// downsampled by the server to about the chart's pixel width (with min/max bands), grouped
// into colours, dashes and charts, smoothed client-side, and kept live: new points extend the
// traces, and a new matching run is fetched alone (skip= the runs already drawn).

import { api, getInfo } from "./api.js";
import {
  appendPoints, CONFIG, DASHES, Ema, layout, lineTraces, PALETTE, pickType, plotlyReady, plotX, traceIndex,
} from "./chart.js";
import { fieldLabel, fieldOptions, groupValue, Indexer, runLabel } from "./grouping.js";
import { live } from "./live.js";
import { queryBar } from "./query_bar.js";
import { getBool, getJSON, getNum, getStr, setState } from "./state.js";
import { debounce, h, metricKey, metricLabel, toast } from "./util.js";

const X_MODES = [["step", "step"], ["epoch", "epoch"], ["relative", "relative time"], ["time", "wall time"]];

export function mount(root) {
  const s = {
    q: getStr("q"), metrics: getJSON("m", null), color: getStr("color"), dash: getStr("dash"),
    chart: getStr("chart"), smooth: getNum("smooth", 0), x: getStr("x", "step"), log: getBool("log"),
    points: getNum("points", 0), runs: {}, lines: new Map(), order: [], info: null, truncated: false,
  };
  let closed = false;
  let stream = null;
  let seq = 0;
  const idx = { run: new Indexer(), color: new Indexer(), dash: new Indexer() };
  const chartOf = new Map(); // line id → chart div (for extendTraces)

  const bar = queryBar({
    value: s.q, placeholder: 'runs to plot, e.g. run.experiment == "baseline"',
    onSubmit: (q) => { s.q = q; save(true); reload(); },
  });
  const side = h("aside", { class: "side", "data-testid": "metrics-controls" });
  const status = h("div", { class: "chart-status", id: "metrics-status", "data-testid": "metrics-status" });
  const charts = h("div", { class: "charts", id: "charts", "data-testid": "charts" });
  root.append(h("div", { class: "toolbar" }, bar.el),
    h("div", { class: "metrics-layout" }, side, h("section", {}, status, charts)));

  function save(push = false) {
    setState({ q: s.q, m: s.metrics && s.metrics.length ? s.metrics : null, color: s.color, dash: s.dash,
      chart: s.chart, smooth: s.smooth || null, x: s.x === "step" ? null : s.x, log: s.log,
      points: s.points || null }, push);
  }

  function select(id, options, value, onChange) {
    const el = h("select", { id, "data-testid": id }, options.map(([v, label]) => h("option", { value: v }, label)));
    el.value = value;
    el.addEventListener("change", () => onChange(el.value));
    return el;
  }

  function renderSide() {
    const info = s.info;
    const chosen = new Set(s.metrics.map(([n, c]) => metricKey(n, c)));
    const filter = h("input", { type: "search", placeholder: "filter metrics…", "data-testid": "metric-filter" });
    const list = h("div", { class: "metric-list", "data-testid": "metric-list" });
    const fill = () => {
      const f = filter.value.trim().toLowerCase();
      const opt = (seq) => {
        const label = metricLabel(seq.name, seq.context);
        if (f && !label.toLowerCase().includes(f)) return null;
        const box = h("input", { type: "checkbox", checked: chosen.has(metricKey(seq.name, seq.context)) });
        box.addEventListener("change", () => {
          const key = metricKey(seq.name, seq.context);
          s.metrics = s.metrics.filter(([n, c]) => metricKey(n, c) !== key);
          if (box.checked) s.metrics.push([seq.name, seq.context]);
          save();
          renderSide();
          reload();
        });
        return h("label", { "data-testid": "metric-option", "data-metric": label }, box, label);
      };
      const plain = info.sequences.filter((q) => !q.name.startsWith("__system__")).map(opt).filter(Boolean);
      const system = info.sequences.filter((q) => q.name.startsWith("__system__")).map(opt).filter(Boolean);
      list.replaceChildren(...plain, system.length ? h("h4", {}, "System") : "", ...system);
    };
    filter.addEventListener("input", fill);
    fill();
    const fields = fieldOptions(info, s.metrics);
    const regroup = (key) => (v) => { s[key] = v; save(); renderCharts(true); };
    const smoothLabel = h("span", { "data-testid": "smooth-value" }, s.smooth.toFixed(2));
    const slider = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: s.smooth, id: "smooth", "data-testid": "smooth" });
    slider.addEventListener("input", () => {
      s.smooth = Number(slider.value);
      smoothLabel.textContent = s.smooth.toFixed(2);
      save();
      renderChartsSoon();
    });
    const log = h("input", { type: "checkbox", checked: s.log, id: "log-y", "data-testid": "log-y" });
    log.addEventListener("change", () => { s.log = log.checked; save(); renderCharts(); });
    const pts = h("input", { type: "number", min: 10, max: 5000, placeholder: "auto", value: s.points || "", "data-testid": "points", style: "width: 90px" });
    pts.addEventListener("change", () => { s.points = Math.min(5000, Math.max(0, Number(pts.value) || 0)); save(); reload(); });
    side.replaceChildren(
      h("h4", {}, "Metrics"), filter, list,
      h("h4", {}, "Group"),
      h("label", {}, "colour", select("group-color", fields, s.color, regroup("color"))),
      h("label", {}, "dash", select("group-dash", fields, s.dash, regroup("dash"))),
      h("label", {}, "chart", select("group-chart", fields, s.chart, regroup("chart"))),
      h("h4", {}, "Display"),
      h("label", {}, "smoothing ", smoothLabel), slider,
      h("label", {}, "x axis", select("x-axis", X_MODES, s.x, (v) => { s.x = v; save(); reload(); })),
      h("label", {}, log, "log-scale y"),
      h("label", {}, "points per line", pts));
  }

  function pointsWanted() {
    if (s.points) return Math.max(10, Math.min(5000, s.points));
    return Math.max(10, Math.min(5000, Math.round((charts.clientWidth || 1000) - 80)));
  }

  /** Everything again (query, metrics or x changed). */
  async function reload() {
    const my = ++seq;
    if (stream) stream.close();
    stream = null;
    if (!s.metrics.length) {
      s.lines = new Map();
      s.runs = {};
      charts.replaceChildren(h("div", { class: "muted", "data-testid": "no-metrics" }, "Pick one or more metrics on the left."));
      status.textContent = "";
      return;
    }
    status.textContent = "loading…";
    status.className = "chart-status";
    try {
      const data = await api.series({ q: s.q, metrics: s.metrics, x: s.x, points: String(pointsWanted()) });
      if (my !== seq || closed) return;
      bar.clearError();
      s.runs = data.runs;
      s.truncated = data.truncated;
      s.lines = new Map();
      idx.run = new Indexer();
      idx.color = new Indexer();
      idx.dash = new Indexer();
      merge(data);
      await renderCharts(true);
      startLive();
    } catch (e) {
      if (my !== seq || closed) return;
      status.textContent = e.message;
      status.className = "chart-status error";
      if (e.column) bar.showError(e, s.q);
      else toast(e.message, "error");
    }
  }

  function merge(data) {
    Object.assign(s.runs, data.runs);
    for (const line of data.lines) {
      line.id = `${line.run}|${metricKey(line.name, line.context)}`;
      s.lines.set(line.id, line);
    }
  }

  /** An index change: fetch only the runs the page does not have yet. */
  const fetchNew = debounce(async () => {
    if (closed || !s.metrics.length) return;
    const my = seq;
    try {
      const have = Object.keys(s.runs);
      const data = await api.series({ q: s.q, metrics: s.metrics, x: s.x, points: String(pointsWanted()), skip: have });
      if (my !== seq || closed) return;
      const fresh = Object.keys(data.runs).filter((hsh) => !(hsh in s.runs));
      merge(data);
      if (fresh.length || data.lines.length) {
        await renderCharts();
        startLive();
      }
    } catch (e) {
      toast(e.message, "error");
    }
  }, 400);

  /** Watch every chosen metric of every running run, from the last step the page has. */
  function watchList() {
    const out = [];
    for (const [hsh, run] of Object.entries(s.runs)) {
      if (run.status !== "running") continue;
      for (const [name, ctx] of s.metrics) {
        const line = s.lines.get(`${hsh}|${metricKey(name, ctx)}`);
        out.push([hsh, name, ctx, line ? line.last_step : -1]);
      }
    }
    return out;
  }

  function startLive() {
    if (stream) stream.close();
    stream = live({
      watch: watchList, x: s.x, onPoints, onIndex: fetchNew,
      onState: (st) => { status.dataset.live = st; },
    });
  }

  function onPoints(ev) {
    const id = `${ev.run}|${metricKey(ev.name, ev.context)}`;
    if (ev.reset) return reload();
    const added = appendPoints(s.lines, id, ev);
    if (!added) return;
    const { line, nx, ny } = added;
    const div = chartOf.get(id);
    const i = div ? traceIndex(div, id) : -1;
    if (i < 0 || !line.ema) return renderChartsSoon(); // a new trace: draw the chart again
    if (line.min && line.x.length > 2 * pointsWanted()) return reload(); // too many raw points
    window.Plotly.extendTraces(div, { x: [plotX(nx, s.x)], y: [ny.map((y) => line.ema.push(y))] }, [i]);
    updateStatus();
  }

  function updateStatus() {
    const runs = Object.keys(s.runs).length;
    status.textContent = `${runs} run${runs === 1 ? "" : "s"} · ${s.lines.size} line${s.lines.size === 1 ? "" : "s"}` +
      (s.truncated ? " · only the first runs are shown (refine the query)" : "");
  }

  const renderChartsSoon = debounce(() => renderCharts(), 150);

  /** Build every chart from the lines in memory (regroup = the grouping changed). */
  async function renderCharts(regroup = false) {
    const Plotly = await plotlyReady();
    if (closed) return;
    if (regroup) {
      idx.color = new Indexer();
      idx.dash = new Indexer();
    }
    const groups = new Map();
    for (const line of s.lines.values()) {
      const run = s.runs[line.run];
      const chartVal = groupValue(s.chart, line, run);
      const key = `${metricKey(line.name, line.context)}|${chartVal}`;
      if (!groups.has(key)) {
        const title = metricLabel(line.name, line.context) + (s.chart && s.chart !== "metric" ? ` · ${fieldLabel(s.chart)} = ${chartVal}` : "");
        groups.set(key, { title, traces: [], lines: [] });
      }
      const colorVal = groupValue(s.color, line, run);
      const dashVal = groupValue(s.dash, line, run);
      const color = PALETTE[(s.color ? idx.color.of(colorVal) : idx.run.of(line.run)) % PALETTE.length];
      const dash = s.dash ? DASHES[idx.dash.of(dashVal) % DASHES.length] : "solid";
      const parts = [s.color ? `${fieldLabel(s.color)}=${colorVal}` : "", s.dash ? `${fieldLabel(s.dash)}=${dashVal}` : ""].filter(Boolean);
      const name = runLabel(run, line.run) + (parts.length ? ` [${parts.join(", ")}]` : "");
      const traces = lineTraces(line, { id: line.id, name, color, dash, smoothing: s.smooth, xMode: s.x, group: s.color ? colorVal : line.run });
      // Keep the EMA's state at the last point so live points continue the smoothed line.
      line.ema = new Ema(s.smooth);
      line.y.forEach((y) => line.ema.push(y));
      groups.get(key).traces.push(...traces);
      groups.get(key).lines.push(line);
    }
    const keep = new Set(groups.keys());
    for (const card of [...charts.children]) if (!keep.has(card.dataset.chartKey)) card.remove();
    if (!groups.size) {
      charts.replaceChildren(h("div", { class: "muted", "data-testid": "no-lines" }, "No lines: no run selected by the query has these metrics (yet)."));
    }
    chartOf.clear();
    let i = 0;
    for (const [key, g] of groups) {
      let card = [...charts.children].find((c) => c.dataset.chartKey === key);
      if (!card) {
        card = h("div", { class: "chart-card", "data-testid": "chart-card" }, h("h3", {}), h("div", { class: "chart", "data-testid": "chart" }));
        card.dataset.chartKey = key;
      }
      charts.append(card); // (re)append keeps the groups' order
      card.querySelector("h3").textContent = g.title;
      const div = card.querySelector(".chart");
      div.id = `chart-${i++}`;
      const lines = g.traces.filter((t) => t.meta.kind === "line").length;
      await Plotly.react(div, pickType(g.traces), layout({ xMode: s.x, logY: s.log, showLegend: lines <= 30 }), CONFIG);
      for (const line of g.lines) chartOf.set(line.id, div);
    }
    updateStatus();
  }

  getInfo().then((info) => {
    if (closed) return;
    s.info = info;
    if (!s.metrics) {
      // Nothing chosen yet: start with the first non-system metric, as most users want.
      const first = info.sequences.find((q) => !q.name.startsWith("__system__"));
      s.metrics = first ? [[first.name, first.context]] : [];
      save();
    }
    renderSide();
    reload();
  }).catch((e) => {
    status.textContent = e.message;
    status.className = "chart-status error";
  });

  return () => {
    closed = true;
    if (stream) stream.close();
    for (const div of charts.querySelectorAll(".chart")) if (window.Plotly) window.Plotly.purge(div);
  };
}
