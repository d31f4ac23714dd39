// ANSI SGR escape codes → HTML spans, so terminal output looks as it did in the terminal.
// Only colours and bold/dim/italic/underline are rendered (16 colours plus the 256-colour and
// truecolour forms); every other escape sequence is dropped. All text is HTML-escaped first
// in each segment: output of a run is untrusted and must never become markup.

import { escapeHtml } from "./util.js";

const NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b./g;

function xterm256(n) {
  if (n < 16) return null; // the named colours are classes, handled by the caller
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const c = (x) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${c(Math.floor(i / 36))},${c(Math.floor(i / 6) % 6)},${c(i % 6)})`;
}

/** Apply one SGR parameter list to the style state (mutated). */
function apply(state, codes) {
  for (let i = 0; i < codes.length; i++) {
    const n = codes[i];
    if (n === 0) Object.assign(state, { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
    else if (n === 1) state.bold = true;
    else if (n === 2) state.dim = true;
    else if (n === 3) state.italic = true;
    else if (n === 4) state.underline = true;
    else if (n === 22) state.bold = state.dim = false;
    else if (n === 23) state.italic = false;
    else if (n === 24) state.underline = false;
    else if (n >= 30 && n <= 37) state.fg = { cls: NAMES[n - 30] };
    else if (n >= 90 && n <= 97) state.fg = { cls: `bright-${NAMES[n - 90]}` };
    else if (n === 39) state.fg = null;
    else if (n >= 40 && n <= 47) state.bg = { cls: NAMES[n - 40] };
    else if (n >= 100 && n <= 107) state.bg = { cls: `bright-${NAMES[n - 100]}` };
    else if (n === 49) state.bg = null;
    else if ((n === 38 || n === 48) && codes[i + 1] === 5) {
      const k = codes[i + 2];
      const named = k < 8 ? NAMES[k] : k < 16 ? `bright-${NAMES[k - 8]}` : null;
      const colour = named ? { cls: named } : { css: xterm256(k) };
      if (n === 38) state.fg = colour; else state.bg = colour;
      i += 2;
    } else if ((n === 38 || n === 48) && codes[i + 1] === 2) {
      const colour = { css: `rgb(${codes[i + 2] | 0},${codes[i + 3] | 0},${codes[i + 4] | 0})` };
      if (n === 38) state.fg = colour; else state.bg = colour;
      i += 4;
    }
  }
}

function open(state) {
  const cls = [];
  const css = [];
  if (state.fg) (state.fg.cls ? cls.push(`ansi-fg-${state.fg.cls}`) : css.push(`color:${state.fg.css}`));
  if (state.bg) (state.bg.cls ? cls.push(`ansi-bg-${state.bg.cls}`) : css.push(`background:${state.bg.css}`));
  if (state.bold) cls.push("ansi-bold");
  if (state.dim) cls.push("ansi-dim");
  if (state.italic) cls.push("ansi-italic");
  if (state.underline) cls.push("ansi-underline");
  if (!cls.length && !css.length) return "";
  return `<span${cls.length ? ` class="${cls.join(" ")}"` : ""}${css.length ? ` style="${css.join(";")}"` : ""}>`;
}

/**
 * One line (or text) with ANSI codes → safe HTML. `state` carries styles across lines, as a
 * terminal does (a colour set on one line and reset on a later one colours the lines between).
 */
export function ansiToHtml(text, state = newState()) {
  let out = "";
  let last = 0;
  let span = open(state);
  out += span;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(text); m; m = ESCAPE.exec(text)) {
    out += escapeHtml(text.slice(last, m.index));
    last = ESCAPE.lastIndex;
    if (m[2] !== "m") continue; // cursor moves, clears...: not rendered
    const codes = m[1] === "" ? [0] : m[1].split(";").map((s) => (s === "" ? 0 : Number(s)));
    if (span) out += "</span>";
    apply(state, codes);
    span = open(state);
    out += span;
  }
  out += escapeHtml(text.slice(last));
  if (span) out += "</span>";
  return out;
}

export function newState() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
}
