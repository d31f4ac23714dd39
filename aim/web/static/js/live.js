// One live stream (/api/live, server-sent events) for a page. The watch list is rebuilt by the
// page on every (re)connect, so a reconnect asks only for points past what the page has;
// EventSource's own retry would resend the original URL and duplicate points.

import { liveUrl } from "./api.js";

/**
 * live({watch: () => [[hash, name, context, last_step]], x, onPoints, onIndex, onState})
 * returns {restart(), close()}.
 */
export function live({ watch, x = "step", onPoints, onIndex, onState }) {
  let es = null;
  let timer = null;
  let closed = false;

  function open() {
    if (closed) return;
    clearTimeout(timer);
    if (es) es.close();
    const list = watch().slice(0, 2000); // the server's limit on watched lines
    es = new EventSource(liveUrl(list, x));
    es.addEventListener("open", () => onState && onState("live"));
    es.addEventListener("points", (ev) => onPoints && onPoints(JSON.parse(ev.data)));
    es.addEventListener("index", (ev) => onIndex && onIndex(JSON.parse(ev.data)));
    es.addEventListener("error", () => {
      // A 4xx (bad watch list) or a restart of aim up: retry with a fresh list in 2 s.
      es.close();
      if (onState) onState("reconnecting");
      timer = setTimeout(open, 2000);
    });
  }

  open();
  return {
    restart: open,
    close() {
      closed = true;
      clearTimeout(timer);
      if (es) es.close();
    },
  };
}
