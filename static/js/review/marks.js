/*
 * The "review-key" → "review-rendered" performance marks of each keypress that shows a new
 * image; their durations are in window.reviewTimings (the benchmark reads them).
 */

import { root } from "./context.js";

let keySeq = 0;
let pendingMark = null;

export function startKey() {
  keySeq += 1;
  pendingMark = keySeq;
  performance.mark("review-key-" + keySeq);
}

export function markRendered() {
  if (pendingMark === null) return;
  var seq = pendingMark;
  pendingMark = null;
  // After the frame is painted: rAF runs before paint, the task queued from it after.
  requestAnimationFrame(function () {
    setTimeout(function () {
      var end = "review-rendered-" + seq;
      performance.mark(end);
      try {
        var m = performance.measure("review-next-" + seq, "review-key-" + seq, end);
        window.reviewTimings.push(m.duration);
      } catch (e) { /* the key mark was cleared */ }
      root.dataset.rendered = String(seq);
    }, 0);
  });
}
