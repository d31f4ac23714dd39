// Modal prompts built on <dialog> (native prompt()/confirm() block the page and cannot be
// styled). Each returns a promise: the text typed, true for a confirmation, or null if
// cancelled (Escape, the Cancel button, or a click outside).

import { h } from "./util.js";

function modal(title, body, okLabel, danger) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", "data-testid": "dialog-ok" }, okLabel);
    const cancel = h("button", { type: "button", "data-testid": "dialog-cancel" }, "Cancel");
    const form = h("form", { method: "dialog" }, h("h3", {}, title), body, h("div", { class: "dialog-buttons" }, cancel, ok));
    const dlg = h("dialog", { class: "modal", "data-testid": "dialog" }, form);
    let result = null;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = form.querySelector("input, textarea");
      result = input ? input.value : true;
      dlg.close();
    });
    cancel.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    const input = form.querySelector("input, textarea");
    if (input) {
      input.focus();
      input.select();
    } else ok.focus();
  });
}

/** Ask for a line of text (or several with multiline). */
export function askText(title, label, value = "", { okLabel = "Save", multiline = false } = {}) {
  const input = multiline
    ? h("textarea", { rows: 4, "data-testid": "dialog-input" })
    : h("input", { type: "text", "data-testid": "dialog-input" });
  input.value = value || "";
  if (multiline) {
    // Enter adds a line; Ctrl/Cmd+Enter saves.
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) input.form.requestSubmit();
    });
  }
  return modal(title, h("label", {}, label, input), okLabel, false);
}

/** Ask to confirm (a destructive action gets a red button). */
export async function confirmBox(title, message, { okLabel = "OK", danger = false } = {}) {
  return (await modal(title, h("p", {}, message), okLabel, danger)) === true;
}
