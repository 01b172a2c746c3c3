/*
 * Grid mode: a page of one class; arrows and Space (or a click) deselect the wrong ones,
 * Enter accepts the page. The deselected ones the model's next guess puts together (at least
 * config.secondLookMin of them) come back as a page of that label, a "second look"; the
 * rest, and what a second look deselects, are then decided one by one (the fix view).
 */

import {
  config,
  fixingEl,
  gridSection,
  labelById,
  pct,
  secondLookEl,
  secondLookLabelEl,
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
  if (state.secondLooks.length) {
    showSecondLook(state.secondLooks.shift());
    return;
  }
  if (state.fixing.length) {
    enterFix();
    return;
  }
  showHead(null);
  state.page = state.buffer.splice(0, config.gridPage);
  state.page.sort(function (a, b) { return confidence(b) - confidence(a); });
  renderPage();
}

// A second look: the tiles of a page the reviewer deselected that the model's next guess
// puts in one label, shown as a page of that label.
function showSecondLook(look) {
  showHead(look);
  state.page = look.items;
  renderPage();
}

// The page's line: the model's class, or (a second look) the next guess being offered.
function showHead(look) {
  state.second = look;
  var head = gridSection.querySelector(".grid-head");
  if (head) head.hidden = Boolean(look);
  secondLookEl.hidden = !look;
  if (look) secondLookLabelEl.textContent = (labelById.get(look.label) || { name: String(look.label) }).name;
}

function renderPage() {
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
    var guess = state.second ? item.suggestions.find(function (s) { return s.label === state.second.label; }) : null;
    if (guess && guess.probability !== null) p.textContent = pct(guess.probability);
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
  var second = state.second;
  state.page = [];
  startKey();
  if (chosen.length) {
    send(chosen.map(function (item) {
      // A page of the model's class accepts its top suggestion; a second look gives the
      // label of its page, the model's next guess.
      return second
        ? { image: item.id, lease: item.lease.token, decision: "correct", labels: [second.label], seconds_spent: each }
        : { image: item.id, lease: item.lease.token, decision: "accept", labels: [], seconds_spent: each };
    }));
  }
  // The reviewer has just said the page's label is wrong for these: it moves to the end of
  // each one's suggestions, so the model's next guess is the one offered first.
  var ruledOut = second ? second.label : config.filters.label;
  wrong.forEach(function (item) { item.suggestions = demoted(item.suggestions, ruledOut); });
  if (second) state.fixing = state.fixing.concat(wrong);
  else {
    var looks = secondLooks(wrong, ruledOut);
    state.secondLooks = looks.pages;
    state.fixing = state.fixing.concat(looks.rest);
  }
  showPage();
}

// The deselected tiles grouped by the model's next guess: a group of at least
// config.secondLookMin is a page of its own; the others are decided one by one.
export function secondLooks(items, ruledOut) {
  // A multi-label image may carry the page's label and others: it is decided on its own.
  if (config.multiLabel) return { pages: [], rest: items };
  var byLabel = new Map();
  items.forEach(function (item) {
    // (A guess that is the label just ruled out is no guess: nothing else was ranked.)
    var next = item.suggestions.length ? item.suggestions[0].label : null;
    if (next === ruledOut) next = null;
    if (!byLabel.has(next)) byLabel.set(next, []);
    byLabel.get(next).push(item);
  });
  var pages = [];
  var rest = [];
  byLabel.forEach(function (group, label) {
    if (label !== null && group.length >= config.secondLookMin) pages.push({ label: label, items: group });
    else rest = rest.concat(group);
  });
  pages.sort(function (a, b) { return b.items.length - a.items.length; });
  return { pages: pages, rest: rest };
}

// The fix view: the deselected ones are still ours, decided now one by one.
function enterFix() {
  state.view = "fix";
  showHead(null);
  state.fixing.forEach(function (item) { preload(item, item.file); });
  gridSection.hidden = true;
  fixingEl.hidden = false;
  advance();
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

