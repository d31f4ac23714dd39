// Views of one step of an image, text or audio sequence. Each view is {el, show(items, step)}:
// show replaces what el holds with that step's items, so only the chosen step's objects are
// ever in the DOM (a sequence of 1,000 steps × 16 images stays one step's 16 <img>s).
// Content is always set as text or as attributes, never as markup: a tracked text may hold
// "<b>" or "<script>", and shows as those characters.

import { blobUrl } from "./api.js";
import { h } from "./util.js";

const MIN_SHOWN = 96; // px: tiny images (a 28×28 MNIST digit) are scaled up to about this width

/** A grid of the step's images with their captions; lazy-loaded, named by content. */
export function imagesView(hash, seq) {
  const el = h("div", { class: "obj-images", "data-testid": "obj-images" });
  return {
    el,
    show(items, step) {
      el.replaceChildren(...items.map((it, i) => {
        // Whole-number upscaling of small images, drawn pixelated: the pixels are the data.
        const w = it.width || 0;
        const ht = it.height || 0;
        const scale = w && w < MIN_SHOWN ? Math.ceil(MIN_SHOWN / w) : 1;
        const img = h("img", {
          src: blobUrl(hash, it), loading: "lazy", decoding: "async",
          width: w ? w * scale : null, height: ht ? ht * scale : null,
          class: scale > 1 ? "pixelated" : null, "data-testid": "obj-img",
          alt: it.caption || `${seq.name} step ${step} #${i}`,
          title: `${w}×${ht} ${it.mode || ""} ${it.format || ""}`.trim(),
        });
        return h("figure", { class: "obj-image" }, img,
          h("figcaption", { "data-testid": "obj-caption" }, it.caption || `#${i}`));
      }));
    },
  };
}

/** The step's texts, as text (pre-wrapped), one block per item. */
export function textsView() {
  const el = h("div", { class: "obj-texts", "data-testid": "obj-texts" });
  return {
    el,
    show(items) {
      el.replaceChildren(...items.map((it) => h("pre", { class: "obj-text", "data-testid": "obj-text" },
        typeof it.content === "string" ? it.content : "")));
    },
  };
}

/** The step's audio clips: the browser's own player per clip (preload=metadata: no bytes
 * for clips nobody plays beyond their header). */
export function audioView(hash) {
  const el = h("div", { class: "obj-audios", "data-testid": "obj-audios" });
  return {
    el,
    show(items) {
      el.replaceChildren(...items.map((it, i) => h("div", { class: "obj-audio" },
        h("audio", { controls: true, preload: "metadata", src: blobUrl(hash, it), "data-testid": "obj-audio-el" }),
        h("span", { class: "muted" }, [it.caption || `#${i}`, it.rate ? `${it.rate} Hz` : null, it.format]
          .filter(Boolean).join(" · ")))));
    },
  };
}
