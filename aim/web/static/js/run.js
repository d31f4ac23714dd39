// The run page (/run/<hash>): attributes and edits (name, description, tags, archive,
// delete/restore), params as a tree, a chart per metric, system metrics, tracked objects
// (images, texts, distributions, audio, figures: run_objects.js), terminal output with its
// ANSI colours, and log records. A running run stays live: charts over /api/live, terminal
// output and records polled every 2 s (after= the lines the page has).

import { api, getInfo } from "./api.js";
import { ansiToHtml, newState } from "./ansi.js";
import { askText, confirmBox } from "./dialog.js";
import { live } from "./live.js";
import { runCharts } from "./run_charts.js";
import { runObjects } from "./run_objects.js";
import { jsonTree } from "./tree.js";
import { debounce, fmtDuration, fmtTime, h, toast } from "./util.js";

const POLL_MS = 2000;

export function mount(root, match) {
  const hash = match[1].toLowerCase();
  let run = null;
  let readOnly = false;
  let closed = false;
  let charts = null;
  let stream = null;
  let pollTimer = null;
  let objects = null;
  let logNext = 0;
  const ansiState = newState();

  const head = h("div", { "data-testid": "run-header" });
  const paramsBox = h("div", { "data-testid": "params" });
  const metricsBox = h("div", { class: "grid-charts", "data-testid": "metrics-section" });
  const systemBox = h("div", { class: "grid-charts", "data-testid": "system-section" });
  // Filled with a section per object kind the run has; empty (no box at all) when it has none.
  const objectsBox = h("div", { "data-testid": "objects" });
  const terminal = h("pre", { class: "terminal", id: "terminal", "data-testid": "terminal" });
  const termNote = h("span", { class: "muted", "data-testid": "terminal-count" });
  const records = h("div", { "data-testid": "log-records" });
  root.append(head,
    h("div", { class: "section" }, h("h2", {}, "Params"), paramsBox),
    h("div", { class: "section" }, h("h2", {}, "Metrics"), metricsBox),
    h("div", { class: "section" }, h("h2", {}, "System"), systemBox),
    objectsBox,
    h("div", { class: "section" }, h("h2", {}, "Terminal output ", termNote), terminal),
    h("div", { class: "section" }, h("h2", {}, "Log records"), records));

  async function edit(body, what) {
    try {
      run = await api.edit(hash, body);
      renderHead();
      toast(`${what}: saved`, "ok");
    } catch (e) {
      toast(`${what} failed: ${e.message}`, "error");
    }
  }

  function renderHead() {
    const r = run;
    const btn = (label, id, fn, cls = "") => h("button", { type: "button", class: cls, "data-testid": id, disabled: readOnly, onclick: fn }, label);
    const tagInput = h("input", { type: "text", class: "tag-input", placeholder: "+ tag", "data-testid": "tag-input", disabled: readOnly || r.deleted });
    tagInput.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      const tags = tagInput.value.split(",").map((t) => t.trim()).filter(Boolean);
      if (tags.length) edit({ add_tags: tags }, "tag");
    });
    const tags = r.tags.map((t) => h("span", { class: "tag", "data-testid": "run-tag" }, t,
      readOnly || r.deleted ? null : h("button", { type: "button", title: `remove tag ${t}`, "data-testid": "tag-remove", onclick: () => edit({ remove_tags: [t] }, "untag") }, "×")));
    const actions = r.deleted
      ? [btn("Restore", "run-restore", restore, "primary")]
      : [btn("Rename", "run-rename", rename), btn("Edit description", "run-describe", describe),
        btn(r.archived ? "Unarchive" : "Archive", "run-archive", () => edit({ archived: !r.archived }, r.archived ? "unarchive" : "archive")),
        btn("Delete", "run-delete", remove, "danger")];
    head.replaceChildren(...[
      h("div", { class: "run-head" },
        h("h1", { "data-testid": "run-name" }, r.name || r.hash),
        h("span", { class: `status status-${r.status}`, "data-testid": "run-status" }, r.status),
        r.archived ? h("span", { class: "badge", "data-testid": "run-archived" }, "archived") : null,
        r.deleted ? h("span", { class: "badge", "data-testid": "run-deleted" }, "deleted") : null,
        h("span", { class: "spacer" }), ...actions),
      h("div", { class: "run-meta" },
        h("span", {}, "hash ", h("b", {}, h("code", { "data-testid": "run-hash" }, r.hash))),
        h("span", {}, "experiment ", h("b", { "data-testid": "run-experiment" }, r.experiment || "—")),
        h("span", {}, "created ", h("b", {}, fmtTime(r.created))),
        h("span", {}, "ended ", h("b", {}, r.ended ? fmtTime(r.ended) : "—")),
        h("span", {}, "duration ", h("b", { "data-testid": "run-duration" }, fmtDuration(r.duration))),
        r.forked_from ? h("span", { "data-testid": "run-forked-from" }, "forked from ",
          h("a", { href: `/run/${r.forked_from.hash}`, class: "run-link" }, h("code", {}, r.forked_from.hash)),
          ` at step ${r.forked_from.step}`) : null),
      r.description ? h("p", { class: "run-desc", "data-testid": "run-description" }, r.description) : null,
      h("div", { class: "row-inline", "data-testid": "run-tags" }, h("span", { class: "muted" }, "tags"), tags, tagInput),
    ].filter(Boolean)); // replaceChildren would print a null as "null"
  }

  async function rename() {
    const name = await askText("Rename run", "Name", run.name || "");
    if (name !== null) edit({ name }, "rename");
  }

  async function describe() {
    const text = await askText("Description", "Description (Ctrl+Enter saves)", run.description || "", { multiline: true });
    if (text !== null) edit({ description: text }, "description");
  }

  async function remove() {
    if (!(await confirmBox("Delete run", `Delete run ${run.name || run.hash}? It can be restored later.`, { okLabel: "Delete", danger: true }))) return;
    try {
      const res = await api.remove(hash);
      toast(res.message || "deleted", "ok");
      await loadDetail();
    } catch (e) {
      toast(`delete failed: ${e.message}`, "error");
    }
  }

  async function restore() {
    try {
      const res = await api.restore(hash);
      toast(res.message || "restored", "ok");
      await loadDetail();
    } catch (e) {
      toast(`restore failed: ${e.message}`, "error");
    }
  }

  async function loadDetail() {
    run = await api.run(hash);
    if (closed) return;
    document.title = `${run.name || run.hash.slice(0, 8)} · aim`;
    renderHead();
  }

  /** New terminal lines (after= what the page has) and all records; again in 2 s if running. */
  async function pollLogs() {
    clearTimeout(pollTimer);
    try {
      const logs = await api.logs(hash, logNext);
      if (closed) return;
      if (logs.lines.length) {
        const atBottom = terminal.scrollTop + terminal.clientHeight >= terminal.scrollHeight - 4;
        terminal.insertAdjacentHTML("beforeend", logs.lines.map((l) => `<div class="term-line">${ansiToHtml(l, ansiState) || " "}</div>`).join(""));
        if (atBottom) terminal.scrollTop = terminal.scrollHeight;
      }
      logNext = logs.next;
      termNote.textContent = `(${logs.total.toLocaleString()} lines)`;
      if (!logs.total) terminal.textContent = "No terminal output captured.";
      renderRecords(logs.records);
    } catch (e) {
      toast(`logs: ${e.message}`, "error");
    }
    if (!closed && run && run.status === "running") pollTimer = setTimeout(pollLogs, POLL_MS);
  }

  function renderRecords(list) {
    if (!list.length) {
      records.replaceChildren(h("div", { class: "muted" }, "No log records."));
      return;
    }
    records.replaceChildren(h("table", { class: "records" },
      h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "level"), h("th", {}, "message"))),
      h("tbody", {}, list.map((r) => h("tr", { "data-testid": "log-record", "data-level": r.level },
        h("td", { class: "num" }, fmtTime(r.timestamp)),
        h("td", {}, h("span", { class: `level level-${r.level}` }, r.level)),
        h("td", {}, r.message))))));
  }

  async function loadCharts() {
    const seqs = run.sequences;
    charts = await runCharts(hash, seqs, { metricsBox, systemBox });
    if (closed) return;
    if (stream) stream.close();
    if (run.status !== "running") return;
    const redrawSoon = debounce(() => charts && charts.redraw(), 150);
    stream = live({
      watch: () => charts.watch(run.sequences),
      onPoints: (ev) => { if (charts.extend(ev)) redrawSoon(); },
      onIndex: onIndexChange,
    });
  }

  // A live run's objects: when the index says its object sequences changed (a new step was
  // indexed, a new sequence began), the sections are drawn again. A card left on its last
  // step (the default) then shows the newest one; a step picked by hand stays (in the URL).
  let objectsSig = null;
  async function refreshObjects() {
    let seqs;
    try {
      seqs = await api.objects(hash);
    } catch {
      return; // the page keeps what it shows; the next index event tries again
    }
    const sig = JSON.stringify(seqs.map((q) => [q.kind, q.name, q.context, q.points, q.last_step]));
    const first = objectsSig === null;
    if (closed || sig === objectsSig) return;
    objectsSig = sig;
    if (first) return; // the first draw is under way
    if (objects) objects.close();
    objects = runObjects(hash, objectsBox);
  }

  // The index changed (a new sequence, the run ended, an edit from the CLI): read it again.
  const onIndexChange = debounce(async () => {
    refreshObjects();
    const before = run ? { status: run.status, seqs: run.sequences.length } : null;
    try {
      await loadDetail();
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    if (before && run.sequences.length !== before.seqs) {
      stream.restart(); // watch the new sequences too
    }
    if (before && before.status === "running" && run.status !== "running") {
      pollLogs(); // the last lines
    }
  }, 500);

  (async () => {
    try {
      readOnly = (await getInfo()).read_only;
    } catch { /* shown by the top bar */ }
    try {
      await loadDetail();
    } catch (e) {
      head.replaceChildren(h("div", { class: "error", "data-testid": "run-error" }, e.message));
      return;
    }
    paramsBox.replaceChildren(jsonTree(run.params));
    pollLogs();
    refreshObjects();
    objects = runObjects(hash, objectsBox);
    objects.ready
      .catch((e) => objectsBox.replaceChildren(h("div", { class: "section error" }, `objects: ${e.message}`)))
      .finally(() => { objectsBox.dataset.loaded = "1"; }); // for tests: "no sections" is final
    try {
      await loadCharts();
    } catch (e) {
      metricsBox.replaceChildren(h("div", { class: "error" }, e.message));
    }
  })();

  return () => {
    closed = true;
    clearTimeout(pollTimer);
    if (stream) stream.close();
    if (objects) objects.close();
  };
}
