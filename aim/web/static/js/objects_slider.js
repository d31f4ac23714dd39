// The step slider every object sequence uses (images, texts, distributions, audio, figures).
// It moves over the *indices* of the steps the server sent, not over step numbers: objects are
// often tracked every N steps (0, 100, 200, ...), and a slider over step numbers would mostly
// land on steps with nothing to show.

import { h } from "./util.js";

/**
 * stepSlider(steps, index, onChange) → {el, set(i), index()}.
 * steps: the step numbers in order; onChange(i) runs at most once per animation frame while
 * the slider is dragged (each change replaces the shown objects; no need to do it 60+ times
 * a second for a fast drag over 1,000 steps).
 */
export function stepSlider(steps, index, onChange) {
  const last = Math.max(0, steps.length - 1);
  let current = clamp(index, last);
  let frame = 0;

  const range = h("input", { type: "range", min: "0", max: String(last), step: "1", value: String(current),
    class: "obj-range", "data-testid": "obj-slider", "aria-label": "step", disabled: steps.length < 2 });
  const label = h("span", { class: "obj-step", "data-testid": "obj-step" });
  const count = h("span", { class: "muted obj-count" });
  const prev = h("button", { type: "button", title: "previous step", "data-testid": "obj-prev", onclick: () => go(current - 1) }, "‹");
  const next = h("button", { type: "button", title: "next step", "data-testid": "obj-next", onclick: () => go(current + 1) }, "›");

  function paint() {
    range.value = String(current);
    label.textContent = steps.length ? `step ${steps[current]}` : "no steps";
    count.textContent = steps.length > 1 ? `${(current + 1).toLocaleString()} / ${steps.length.toLocaleString()}` : "";
    prev.disabled = current <= 0;
    next.disabled = current >= last;
  }

  function go(i) {
    i = clamp(i, last);
    if (i === current) return;
    current = i;
    paint();
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => onChange(current));
  }

  range.addEventListener("input", () => go(Number(range.value)));
  paint();
  const el = h("div", { class: "obj-slider" }, prev, range, next, label, count);
  return { el, set: go, index: () => current };
}

function clamp(i, last) {
  return Math.min(last, Math.max(0, Number.isFinite(i) ? Math.round(i) : last));
}

/** The index of `step` in `steps`, or of the nearest step before it (the last one when none). */
export function indexOfStep(steps, step) {
  if (step === null || step === undefined || !steps.length) return steps.length - 1;
  let best = 0;
  for (let i = 0; i < steps.length; i++) {
    if (steps[i] <= step) best = i;
    else break;
  }
  return best;
}
