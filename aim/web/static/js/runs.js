// The runs explorer (/runs and /): one page of the runs an AimQL query selects, sorted and paged
// by the server (the browser never holds more than a page, so 100k runs cost what 50 do),
// with user-chosen param/metric columns, row selection and bulk actions, and a live refresh of
// the page whenever the index changes.

import { api, getInfo, liveUrl } from "./api.js";
import { columnLabel, columnPicker, sameColumn } from "./columns.js";
import { askText, confirmBox } from "./dialog.js";
import { queryBar } from "./query_bar.js";
import { getBool, getJSON, getNum, getStr, setState } from "./state.js";
import { debounce, fmtDuration, fmtTime, fmtValue, h, shortHash, toast } from "./util.js";

const FIXED = [
  ["status", "Status"], ["experiment", "Experiment"], ["name", "Name"], ["tags", "Tags"],
  ["created", "Created"], ["duration", "Duration"],
];
const PAGE_SIZES = [25, 50, 100, 200, 500];

export function mount(root) {
  const s = {
    q: getStr("q"),
    cols: getJSON("cols", []),
    sort: getJSON("sort", ["attr", "created"]),
    desc: getStr("desc", "1") !== "0",
    offset: getNum("offset", 0),
    limit: getNum("limit", 50),
    deleted: getBool("deleted"),
    selected: new Set(),
    page: null,
    readOnly: false,
  };
  let seq = 0;
  let closed = false;

  const bar = queryBar({
    value: s.q,
    placeholder: 'AimQL, e.g. run.hparams.lr > 0.01 and run.experiment == "baseline"',
    onSubmit: (q) => { s.q = q; s.offset = 0; s.selected.clear(); save(true); load(); },
  });
  const picker = columnPicker({
    getCols: () => s.cols,
    onChange: (cols) => { s.cols = cols; save(); load(); },
  });
  const tabs = h("div", { class: "tabs" },
    h("button", { type: "button", "data-testid": "view-live", class: s.deleted ? "" : "active", onclick: () => setDeleted(false) }, "Runs"),
    h("button", { type: "button", "data-testid": "view-deleted", class: s.deleted ? "active" : "", onclick: () => setDeleted(true) }, "Deleted runs"));
  const actions = h("div", { class: "actions", "data-testid": "actions" });
  const summary = h("span", { class: "muted", "data-testid": "runs-total", id: "runs-total" });
  const table = h("table", { class: "runs-table", id: "runs-table", "data-testid": "runs-table" });
  const pager = h("div", { class: "pager", "data-testid": "pager" });
  const status = h("div", { class: "table-status", "data-testid": "runs-status" });

  root.append(
    h("div", { class: "toolbar" }, bar.el),
    h("div", { class: "toolbar small" }, tabs, picker.el, summary, h("span", { class: "spacer" }), actions),
    status,
    h("div", { class: "table-wrap" }, table),
    pager,
  );

  function save(push = false) {
    setState({
      q: s.q, cols: s.cols.length ? s.cols : null,
      sort: sameColumn(s.sort, ["attr", "created"]) ? null : s.sort,
      desc: s.desc ? null : "0", offset: s.offset || null, limit: s.limit === 50 ? null : s.limit,
      deleted: s.deleted,
    }, push);
  }

  function setDeleted(on) {
    s.deleted = on;
    s.offset = 0;
    s.selected.clear();
    tabs.children[0].classList.toggle("active", !on);
    tabs.children[1].classList.toggle("active", on);
    save(true);
    load();
  }

  async function load() {
    const my = ++seq;
    status.textContent = "loading…";
    status.className = "table-status";
    try {
      const page = await api.runs({
        q: s.q, sort: s.sort, desc: s.desc ? "1" : "0", offset: String(s.offset),
        limit: String(s.limit), columns: s.cols, deleted: s.deleted ? "1" : "0",
      });
      if (my !== seq || closed) return;
      bar.clearError();
      s.page = page;
      // A page past the end (runs were deleted meanwhile): go to the last page instead.
      if (!page.rows.length && page.total && s.offset >= page.total) {
        s.offset = Math.max(0, Math.floor((page.total - 1) / s.limit) * s.limit);
        save();
        return load();
      }
      status.textContent = "";
      render();
    } catch (e) {
      if (my !== seq || closed) return;
      status.className = "table-status error";
      if (e.column) {
        // The bar shows the message and its caret; say what the table shows meanwhile.
        bar.showError(e, s.q);
        status.textContent = "Query error: the table still shows the last query's runs.";
      } else status.textContent = e.message;
    }
  }

  function sortBy(spec) {
    if (sameColumn(s.sort, spec)) s.desc = !s.desc;
    else {
      s.sort = spec;
      s.desc = spec[0] === "attr" && (spec[1] === "created" || spec[1] === "duration");
    }
    s.offset = 0;
    save();
    load();
  }

  function header(spec, label, removable) {
    const sorted = sameColumn(s.sort, spec);
    const th = h("th", {
      class: `sortable${sorted ? " sorted" : ""}`, "data-testid": "column-header",
      "data-column": JSON.stringify(spec), title: "click to sort",
      onclick: () => sortBy(spec),
    }, label, sorted ? h("span", { class: "sort-mark" }, s.desc ? " ▼" : " ▲") : null);
    if (removable) {
      th.append(h("button", {
        type: "button", class: "col-remove", title: "remove column",
        onclick: (ev) => {
          ev.stopPropagation();
          s.cols = s.cols.filter((c) => !sameColumn(c, spec));
          save();
          load();
        },
      }, "×"));
    }
    return th;
  }

  function render() {
    const page = s.page;
    const all = h("input", { type: "checkbox", "data-testid": "select-all", title: "select this page" });
    all.checked = page.rows.length > 0 && page.rows.every((r) => s.selected.has(r.hash));
    all.addEventListener("change", () => {
      for (const r of page.rows) (all.checked ? s.selected.add(r.hash) : s.selected.delete(r.hash));
      render();
    });
    const head = h("tr", {}, h("th", { class: "check" }, all),
      FIXED.map(([key, label]) => header(["attr", key], label, false)),
      s.cols.map((c) => header(c, columnLabel(c), true)));
    const rows = page.rows.map((r) => {
      const box = h("input", { type: "checkbox", "data-testid": "row-select", checked: s.selected.has(r.hash) });
      box.addEventListener("change", () => {
        (box.checked ? s.selected.add(r.hash) : s.selected.delete(r.hash));
        render();
      });
      const link = h("a", { href: `/run/${r.hash}`, class: "run-link", "data-testid": "run-link" }, r.name || shortHash(r.hash));
      return h("tr", { "data-testid": "run-row", "data-hash": r.hash, class: s.selected.has(r.hash) ? "selected" : "" },
        h("td", { class: "check" }, box),
        h("td", {}, h("span", { class: `status status-${r.status}`, "data-testid": "run-status" }, r.status),
          r.archived ? h("span", { class: "badge" }, "archived") : null),
        h("td", { "data-testid": "run-experiment" }, r.experiment || ""),
        h("td", { class: "name-cell" }, link, h("code", { class: "hash muted", "data-testid": "run-hash" }, r.hash)),
        h("td", {}, (r.tags || []).map((t) => h("span", { class: "tag" }, t))),
        h("td", { class: "num" }, fmtTime(r.created)),
        h("td", { class: "num" }, fmtDuration(r.duration)),
        r.values.map((v) => h("td", { class: "num", "data-testid": "run-value" }, fmtValue(v))));
    });
    const empty = rows.length ? null : h("tr", {}, h("td", { colspan: 1 + FIXED.length + s.cols.length, class: "empty" },
      s.deleted ? "No deleted runs." : "No runs match."));
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, rows, empty));
    summary.textContent = `${page.total.toLocaleString()} ${s.deleted ? "deleted " : ""}run${page.total === 1 ? "" : "s"}`;
    renderPager();
    renderActions();
  }

  function renderPager() {
    const { total } = s.page;
    const first = total ? s.offset + 1 : 0;
    const last = Math.min(total, s.offset + s.limit);
    const size = h("select", { "data-testid": "page-size" }, PAGE_SIZES.map((n) => h("option", { value: n }, `${n} / page`)));
    size.value = String(s.limit);
    size.addEventListener("change", () => { s.limit = Number(size.value); s.offset = 0; save(); load(); });
    const go = (offset) => { s.offset = offset; save(); load(); };
    pager.replaceChildren(
      h("button", { type: "button", disabled: s.offset === 0, onclick: () => go(0) }, "« First"),
      h("button", { type: "button", "data-testid": "page-prev", disabled: s.offset === 0, onclick: () => go(Math.max(0, s.offset - s.limit)) }, "‹ Prev"),
      h("span", { "data-testid": "page-range" }, `${first.toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()}`),
      h("button", { type: "button", "data-testid": "page-next", disabled: last >= total, onclick: () => go(s.offset + s.limit) }, "Next ›"),
      h("button", { type: "button", disabled: last >= total, onclick: () => go(Math.floor((total - 1) / s.limit) * s.limit) }, "Last »"),
      size);
  }

  function renderActions() {
    const n = s.selected.size;
    if (!n) {
      actions.replaceChildren(h("span", { class: "muted" }, s.readOnly ? "read-only" : "select runs for actions"));
      return;
    }
    const b = (label, id, fn, cls = "") => h("button", { type: "button", class: cls, "data-testid": id, disabled: s.readOnly, onclick: fn }, label);
    const list = [h("span", { "data-testid": "selected-count" }, `${n} selected`)];
    if (s.deleted) list.push(b("Restore", "action-restore", () => bulk("restore", (hsh) => api.restore(hsh))));
    else {
      list.push(
        b("Tag", "action-tag", tag),
        b("Untag", "action-untag", untag),
        b("Archive", "action-archive", () => bulk("archive", (hsh) => api.edit(hsh, { archived: true }))),
        b("Unarchive", "action-unarchive", () => bulk("unarchive", (hsh) => api.edit(hsh, { archived: false }))),
        b("Rename", "action-rename", rename),
        b("Delete", "action-delete", remove, "danger"));
    }
    list.push(h("button", { type: "button", "data-testid": "action-clear", onclick: () => { s.selected.clear(); render(); } }, "Clear"));
    actions.replaceChildren(...list);
  }

  /** Apply fn to every selected run; report failures one by one (a 409 names the live run). */
  async function bulk(what, fn) {
    const hashes = [...s.selected];
    const failures = [];
    for (const hsh of hashes) {
      try {
        await fn(hsh);
      } catch (e) {
        failures.push(`${shortHash(hsh)}: ${e.message}`);
      }
    }
    const ok = hashes.length - failures.length;
    if (ok) toast(`${what}: ${ok} run${ok === 1 ? "" : "s"} done`, "ok");
    for (const f of failures) toast(`${what} failed for ${f}`, "error");
    if (what === "delete" || what === "restore") s.selected.clear();
    load();
  }

  async function tag() {
    const text = await askText("Tag runs", "Tags (comma separated)", "", { okLabel: "Add tags" });
    const tags = (text || "").split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) bulk("tag", (hsh) => api.edit(hsh, { add_tags: tags }));
  }

  async function untag() {
    const have = new Set();
    for (const r of s.page.rows) if (s.selected.has(r.hash)) (r.tags || []).forEach((t) => have.add(t));
    const text = await askText("Remove tags", "Tags to remove (comma separated)", [...have].join(", "), { okLabel: "Remove" });
    const tags = (text || "").split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) bulk("untag", (hsh) => api.edit(hsh, { remove_tags: tags }));
  }

  async function rename() {
    if (s.selected.size !== 1) {
      toast("Rename one run at a time (select exactly one).", "error");
      return;
    }
    const hsh = [...s.selected][0];
    const row = s.page.rows.find((r) => r.hash === hsh);
    const name = await askText("Rename run", "Name", row ? row.name || "" : "");
    if (name !== null) bulk("rename", (x) => api.edit(x, { name }));
  }

  async function remove() {
    const n = s.selected.size;
    const ok = await confirmBox("Delete runs", `Delete ${n} run${n === 1 ? "" : "s"}? They can be restored from "Deleted runs".`, { okLabel: "Delete", danger: true });
    if (ok) bulk("delete", (hsh) => api.remove(hsh));
  }

  // Live: the stream with no lines watched still says when the index changed.
  const refresh = debounce(() => { if (!closed) load(); }, 300);
  const es = new EventSource(liveUrl([], "step"));
  es.addEventListener("index", refresh);

  getInfo().then((info) => { s.readOnly = info.read_only; if (s.page) renderActions(); }).catch(() => {});
  load();
  return () => {
    closed = true;
    es.close();
  };
}
