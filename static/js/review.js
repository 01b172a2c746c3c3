/*
 * The review queue page. Everything goes through the review API (…/review/next, decisions,
 * undo, release), so the page holds no state the server does not know about.
 *
 * Speed: the page holds a few images ahead of the one on screen, already downloaded and
 * decoded, so a decision shows the next image at once; the decision is sent in the
 * background (in order, one request at a time) and the buffer is topped up after it.
 *
 * Single mode: 1–9 pick a suggestion (multi-label: toggle it), Enter accepts the top one
 * (multi-label: confirms the chosen ones), n none of the above (fits no label), x rejects,
 * / searches every label, u undoes, s skips. Grid mode: a page of one class; arrows and Space (or a click) deselect the wrong
 * ones, Enter accepts the page; the deselected ones sharing the model's next guess come back
 * as a page of it (a second look), and the rest are then decided one by one.
 *
 * Each keypress that shows a new image records "review-key" → "review-rendered" performance
 * marks; the durations are in window.reviewTimings (the benchmark reads them).
 *
 * The parts live in review/: requests, single mode, grid mode, search and keys.
 */

import { config, gridMode, held, hooks, root, setEmpty, state } from "./review/context.js";
import { leaveFix, showPage } from "./review/grid.js";
import { enterGroups, renewGroup } from "./review/groups.js";
import { initKeys } from "./review/keyboard.js";
import { refill } from "./review/requests.js";
import { initSearch } from "./review/search.js";
import { advance } from "./review/single.js";

window.reviewTimings = [];
root.dataset.pending = "0";
hooks.refilled = function () {
  if (state.view === "single" && !state.current) advance();
  else if (state.view === "grid" && !state.page.length) showPage();
};
hooks.enterGrid = leaveFix; // leaving the deselected ones, or an undone page
initSearch();
initKeys();

// --- Holds --------------------------------------------------------------------------------

// Leaving the page gives its images back at once (the holds would expire anyway). Only
// the ones still shown or buffered: a decision on its way keeps its hold until it lands.
window.addEventListener("pagehide", function () {
  var tokens = held().map(function (i) { return i.lease && i.lease.token; }).filter(Boolean);
  if (!tokens.length || !navigator.sendBeacon) return;
  var form = new URLSearchParams();
  form.append("csrfmiddlewaretoken", config.csrfToken);
  tokens.forEach(function (t) { form.append("leases", t); });
  navigator.sendBeacon(config.urls.release, form);
});

// Asking for more renews every hold; a reviewer who has stopped lets them expire.
setInterval(function () {
  if (Date.now() - state.lastActivity < config.leaseSeconds * 1000) {
    if (state.view === "group") {
      renewGroup();
      return;
    }
    state.exhausted = false;
    refill();
  }
}, Math.max(10, config.leaseSeconds / 2) * 1000);

if (config.groups) {
  enterGroups();
} else if (gridMode && config.filters.label === null) {
  setEmpty(true);
} else {
  refill();
}
