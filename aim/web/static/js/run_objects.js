// The run page's tracked objects: a section per kind (images, texts, distributions, audio,
// figures), present only when the run has objects of that kind, and a card per sequence
// (name + context) with a step slider. Kind-specific drawing is in objects_*.js; this module
// loads the sequences and their steps, wires the sliders, and keeps the chosen steps in the URL.
//
// URL: `ostep`, a JSON object {"<kind>:<name> (<context>)": step}. Only sequences moved off
// their default (the last step) are in it, so a plain run URL stays short.

import { api } from "./api.js";
import { distributionView } from "./objects_dist.js";
import { figuresView } from "./objects_figure.js";
import { audioView, imagesView, textsView } from "./objects_media.js";
import { indexOfStep, stepSlider } from "./objects_slider.js";
import { getJSON, setState } from "./state.js";
import { debounce, h, metricLabel } from "./util.js";

const KINDS = [
  ["image", "Images", (hash, seq) => imagesView(hash, seq)],
  ["text", "Texts", () => textsView()],
  ["distribution", "Distributions", (hash, seq, data) => distributionView(seq, data)],
  ["audio", "Audio", (hash) => audioView(hash)],
  ["figure", "Figures", (hash) => figuresView(hash)],
];
const PARALLEL = 4; // /objects/steps requests in flight at once (a run may have many sequences)

/** The URL key of a sequence: readable, and stable across reloads (not an index). */
export function seqKey(seq) {
  return `${seq.kind}:${metricLabel(seq.name, seq.context)}`;
}

/**
 * runObjects(hash, box) fills box with the object sections (nothing when the run has none).
 * Returns {ready, close()} at once: ready settles when every card is drawn (or failed);
 * close stops pending work from drawing into a page that is gone.
 */
export function runObjects(hash, box) {
  const life = { closed: false };
  return { ready: load(hash, box, life), close: () => { life.closed = true; } };
}

async function load(hash, box, life) {
  const seqs = await api.objects(hash);
  if (life.closed) return;
  const chosen = getJSON("ostep", {});
  const picks = chosen && typeof chosen === "object" && !Array.isArray(chosen) ? { ...chosen } : {};
  // Written after the slider settles: replaceState for every frame of a drag is wasted work.
  const saveUrl = debounce(() => {
    if (!life.closed) setState({ ostep: Object.keys(picks).length ? picks : null });
  }, 250);

  const jobs = [];
  const sections = [];
  for (const [kind, title, make] of KINDS) {
    const mine = seqs.filter((s) => s.kind === kind)
      .sort((a, b) => metricLabel(a.name, a.context).localeCompare(metricLabel(b.name, b.context)));
    if (!mine.length) continue;
    const grid = h("div", { class: kind === "text" || kind === "image" ? "obj-grid wide" : "obj-grid" });
    sections.push(h("div", { class: "section", "data-testid": `objects-${kind}` },
      h("h2", {}, title, " ", h("span", { class: "muted" }, `(${mine.length})`)), grid));
    for (const seq of mine) {
      const body = h("div", { class: "obj-body muted" }, "loading…");
      const card = h("div", { class: "chart-card obj-card", "data-testid": "obj-card", "data-kind": kind,
        "data-name": seq.name, "data-context": JSON.stringify(seq.context) },
      h("h3", {}, metricLabel(seq.name, seq.context), " ",
        h("span", { class: "muted" }, `${seq.points.toLocaleString()} step${seq.points === 1 ? "" : "s"}`)), body);
      grid.append(card);
      jobs.push(() => fill(seq, make, card, body));
    }
  }
  box.replaceChildren(...sections);

  /** Load one sequence's steps and draw its card: slider + the kind's view. */
  async function fill(seq, make, card, body) {
    let data;
    try {
      data = await api.objectSteps(hash, seq.kind, seq.name, seq.context);
    } catch (e) {
      body.replaceChildren(h("div", { class: "error" }, `${seq.kind} ${seq.name}: ${e.message}`));
      return;
    }
    if (life.closed) return;
    const steps = data.steps.map((s) => s.step);
    const key = seqKey(seq);
    const view = make(hash, seq, data);
    const show = (i) => {
      if (life.closed || !steps.length) return;
      card.dataset.step = String(steps[i]);
      Promise.resolve(view.show(data.steps[i].items, steps[i])).catch((e) => {
        body.append(h("div", { class: "error" }, e.message));
      });
    };
    const slider = stepSlider(steps, indexOfStep(steps, picks[key]), (i) => {
      if (i === steps.length - 1) delete picks[key];
      else picks[key] = steps[i];
      saveUrl();
      show(i);
    });
    if (view.onPick !== undefined) view.onPick = (step) => slider.set(steps.indexOf(step));
    const note = data.total_steps > steps.length
      ? h("div", { class: "muted" }, `the last ${steps.length.toLocaleString()} of ${data.total_steps.toLocaleString()} steps`)
      : null;
    body.className = "obj-body";
    body.replaceChildren(...[slider.el, note, view.el].filter(Boolean));
    show(slider.index());
  }

  // A few at a time, in page order: the first cards fill first.
  const queue = jobs.slice();
  await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
    while (queue.length && !life.closed) await queue.shift()();
  }));
}
