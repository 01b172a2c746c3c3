/*
 * The worker's layout of the map: what it is doing now (phase, progress), or why it failed,
 * polled until it ends.
 */

import { getJSON } from "../lib/request.js";

const POLL_MS = 2000;

export function describe(latest) {
  if (!latest) return { text: "", failed: false, active: false };
  if (latest.status === "failed") {
    return { text: `The last layout failed: ${latest.message}`, failed: true, active: false };
  }
  if (latest.status === "queued" || latest.status === "running") {
    let text = latest.status === "queued" ? "A new layout waits for a worker…" : "Laying out the map";
    if (latest.status === "running" && latest.phaseName) {
      text += `: ${latest.phaseName.toLowerCase()}`;
      if (latest.total > 1) text += ` (${latest.done.toLocaleString()} of ${latest.total.toLocaleString()})`;
      text += "…";
    }
    return { text, failed: false, active: true };
  }
  return { text: "", failed: false, active: false };
}

// Calls show(state) now and after each poll; resolves with the final state once it ends.
export function watch(url, latest, show) {
  show(latest);
  return new Promise((resolve) => {
    const poll = () => {
      getJSON(url).then(
        (res) => {
          const next = res.ok ? res.data.latest : latest;
          show(next);
          if (describe(next).active) setTimeout(poll, POLL_MS);
          else resolve(next);
        },
        () => setTimeout(poll, POLL_MS * 2),
      );
    };
    if (describe(latest).active) setTimeout(poll, POLL_MS);
    else resolve(latest);
  });
}
