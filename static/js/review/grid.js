/*
 * Grid mode: a page of one class; arrows and Space (or a click) deselect the wrong ones,
 * Enter accepts the page, and the deselected ones are then decided one by one.
 */

import {
  config,
  fixingEl,
  gridSection,
  pct,
  setEmpty,
  single,
  state,
  root,
  tilesEl,
} from "./context.js";
import { markRendered, startKey } from "./marks.js";
import { needMore, preload, refill } from "./requests.js";
import { advance, send } from "./single.js";


export function confidence(item) {
  return item.confidence === null || item.confidence === undefined ? -1 : item.confidence;
}

export function enterGrid() {
  state.view = "grid";
  fixingEl.hidden = true;
  single.hidden = true;
  gridSection.hidden = false;
  showPage();
}

export function showPage() {
  state.page = state.buffer.splice(0, config.gridPage);
  state.page.sort(function (a, b) { return confidence(b) - confidence(a); });
  state.deselected = new Set();
  state.cursor = 0;
  tilesEl.replaceChildren();
  if (!state.page.length) {
    if (state.exhausted) setEmpty(true);
    else refill();
    return;
  }
  setEmpty(false);
  single.hidden = true;
  gridSection.hidden = false;
  var ready = state.page.map(function (item, i) {
    var li = document.createElement("li");
    li.className = "tile";
    li.dataset.imageId = String(item.id);
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "true");
    var key = document.createElement("kbd");
    key.textContent = i < 9 ? String(i + 1) : "";
    var p = document.createElement("span");
    p.className = "tile-p";
    p.textContent = item.confidence !== null ? pct(item.confidence) : "";
    li.append(item.img, key, p);
    li.addEventListener("click", function () {
      state.cursor = i;
      toggleTile(i);
    });
    tilesEl.append(li);
    return item.ready;
  });
  renderCursor();
  root.dataset.state = "ready";
  Promise.all(ready).then(function () {
    tilesEl.dataset.page = String(state.page.map(function (i) { return i.id; }).join(","));
    state.shownAt = performance.now();
    markRendered();
  });
  needMore();
}

export function toggleTile(i) {
  var item = state.page[i];
  if (!item) return;
  if (state.deselected.has(item.id)) state.deselected.delete(item.id);
  else state.deselected.add(item.id);
  var li = tilesEl.children[i];
  li.setAttribute("aria-selected", String(!state.deselected.has(item.id)));
  li.classList.toggle("deselected", state.deselected.has(item.id));
  renderCursor();
}

export function renderCursor() {
  Array.from(tilesEl.children).forEach(function (li, i) {
    li.classList.toggle("cursor", i === state.cursor);
  });
}

export function columns() {
  var tiles = tilesEl.children;
  if (tiles.length < 2) return 1;
  var top = tiles[0].offsetTop;
  var n = 0;
  while (n < tiles.length && tiles[n].offsetTop === top) n += 1;
  return Math.max(1, n);
}

export function moveCursor(key) {
  var n = state.page.length;
  if (!n) return;
  var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[key];
  state.cursor = Math.min(n - 1, Math.max(0, state.cursor + step));
  renderCursor();
  var li = tilesEl.children[state.cursor];
  if (li && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
}

export function acceptPage() {
  if (!state.page.length) return;
  var seconds = (performance.now() - state.shownAt) / 1000;
  var chosen = state.page.filter(function (i) { return !state.deselected.has(i.id); });
  var wrong = state.page.filter(function (i) { return state.deselected.has(i.id); });
  var each = chosen.length ? Math.round((seconds / state.page.length) * 1000) / 1000 : 0;
  state.page = [];
  startKey();
  if (chosen.length) {
    send(chosen.map(function (item) {
      return { image: item.id, lease: item.lease.token, decision: "accept", labels: [], seconds_spent: each };
    }));
  }
  if (wrong.length) {
    // The deselected ones are still ours: decide them now, one by one.
    state.view = "fix";
    // The reviewer has just said the page's class is wrong for these: it moves to the end
    // of each one's suggestions, so the model's next guess is the one offered first.
    var pageLabel = config.filters.label;
    state.fixing = wrong.map(function (item) {
      preload(item, item.file);
      item.suggestions = demoted(item.suggestions, pageLabel);
      return item;
    });
    gridSection.hidden = true;
    fixingEl.hidden = false;
    advance();
  } else {
    showPage();
  }
}

export function demoted(suggestions, labelId) {
  if (labelId === null || labelId === undefined) return suggestions;
  var others = suggestions.filter(function (s) { return s.label !== labelId; });
  return others.concat(suggestions.filter(function (s) { return s.label === labelId; }));
}

export function leaveFix() {
  state.current = null;
  enterGrid();
}

