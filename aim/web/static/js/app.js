// Entry point and router: one HTML page; location.pathname picks the view module.
// Each view exports mount(root) and returns a cleanup function (closes live streams, timers),
// called before the next view mounts, so nothing keeps polling for a page no longer shown.

import { getInfo } from "./api.js";
import { toast } from "./util.js";

const routes = [
  [/^\/(runs)?\/?$/, () => import("./runs.js"), "runs"],
  [/^\/metrics\/?$/, () => import("./metrics.js"), "metrics"],
  [/^\/run\/([0-9a-fA-F]+)\/?$/, () => import("./run.js"), null],
];

let cleanup = null;
let seq = 0;

/** The token in the URL did its job (the server answered with a cookie): hide it. */
function dropToken() {
  const p = new URLSearchParams(location.search);
  if (!p.has("token")) return;
  p.delete("token");
  const qs = p.toString();
  history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : ""));
}

async function route() {
  const my = ++seq;
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  const root = document.getElementById("app");
  for (const a of document.querySelectorAll("#topbar nav a")) a.classList.remove("active");
  const found = routes.find(([re]) => re.test(location.pathname));
  if (!found) {
    root.textContent = `No page at ${location.pathname}.`;
    return;
  }
  const [re, load, nav] = found;
  if (nav) document.getElementById(`nav-${nav}`).classList.add("active");
  const match = location.pathname.match(re);
  try {
    const mod = await load();
    if (my !== seq) return; // another navigation started meanwhile
    root.replaceChildren();
    root.dataset.page = nav || "run";
    cleanup = mod.mount(root, match) || null;
  } catch (e) {
    root.textContent = `This page failed to load: ${e.message}`;
    toast(e.message, "error");
  }
}

/** In-app navigation without a reload (live streams and caches of other pages are closed). */
export function navigate(url) {
  history.pushState(null, "", url);
  route();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || a.target) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);

dropToken();
getInfo().then((info) => {
  const el = document.getElementById("repo-info");
  el.textContent = `${info.repo} · ${info.total_runs.toLocaleString()} runs${info.read_only ? " · read-only" : ""}`;
}).catch((e) => toast(e.message, "error"));
route();
