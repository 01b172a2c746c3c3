/*
 * Cluster labelling at cold start (grid mode before the taxonomy has a model): one group
 * of similar waiting images at a time, held like a grid page. Arrows and Space (or a
 * click) deselect the odd ones, 1–9 (or the search, / ) choose the label, and Enter gives
 * it to the selected ones; the deselected ones stay waiting and are not offered again on
 * this page. u takes the last submission back and shows its images again.
 */

import { config, keyedTaxonomy, labels, labelById, root, setEmpty, state, tilesEl, toast, updateCounts } from "./context.js";
import { renderCursor, toggleTile } from "./grid.js";
import { markRendered, startKey } from "./marks.js";
import { inOrder, message, post, preload } from "./requests.js";
import { matchingLabels } from "./search.js";

const countEl = document.getElementById("group-count");
const chosenEl = document.getElementById("group-chosen");
const labelButtons = document.getElementById("group-labels");
const searchEl = document.getElementById("group-search");
const resultsEl = document.getElementById("group-search-results");

var setAside = []; // deselected on this page: not offered again
var hits = [];
var hitIndex = 0;

export function enterGroups() {
  state.view = "group";
  initGroupSearch();
  if (labelButtons) {
    labelButtons.querySelectorAll("button").forEach(function (button) {
      button.addEventListener("click", function () {
        chooseLabel(Number(button.dataset.labelId));
        button.blur();
      });
    });
  }
  fetchGroup();
}

function fetchGroup() {
  return inOrder(function () {
    var body = { size: config.gridPage, exclude: setAside.slice(-1000) };
    return post(config.urls.group, body).then(function (res) {
      if (!res.ok) {
        toast(message(res, "Could not fetch the next group."));
        return;
      }
      showGroup(res.data.items || []);
    }, function () {
      toast("The server cannot be reached; trying again shortly.");
      setTimeout(fetchGroup, 3000);
    });
  });
}

// The heartbeat: asking again renews the holds (and returns the same group).
export function renewGroup() {
  if (!state.page.length) return fetchGroup(); // nothing on screen: look again
  return inOrder(function () {
    var body = { size: config.gridPage, exclude: setAside.slice(-1000) };
    return post(config.urls.group, body).then(function (res) {
      if (!res.ok) return;
      var byId = new Map((res.data.items || []).map(function (i) { return [i.id, i]; }));
      state.page.forEach(function (item) {
        var fresh = byId.get(item.id);
        if (fresh) item.lease = fresh.lease;
      });
    }, function () {});
  });
}

function showGroup(items) {
  state.page = items;
  state.deselected = new Set();
  state.cursor = 0;
  tilesEl.replaceChildren();
  chooseLabel(null);
  if (!items.length) {
    setEmpty(true);
    return;
  }
  setEmpty(false);
  countEl.textContent = String(items.length);
  var ready = items.map(function (item, i) {
    preload(item, item.thumbnail || item.file);
    var li = document.createElement("li");
    li.className = "tile";
    li.dataset.imageId = String(item.id);
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "true");
    li.append(item.img);
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
    tilesEl.dataset.page = items.map(function (i) { return i.id; }).join(",");
    state.shownAt = performance.now();
    markRendered();
  });
}

export function chooseLabel(id) {
  state.groupLabel = id;
  var label = id === null ? null : labelById.get(id);
  chosenEl.textContent = label ? label.path : "none chosen yet";
  chosenEl.classList.toggle("muted", !label);
  chosenEl.dataset.labelId = label ? String(label.id) : "";
  if (labelButtons) {
    labelButtons.querySelectorAll("button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.labelId) === id));
    });
  }
}

export function chooseLabelByKey(n) {
  if (!keyedTaxonomy || n >= labels.length) return;
  chooseLabel(labels[n].id);
}

export function submitGroup() {
  if (!state.page.length) return;
  if (state.groupLabel === null) {
    toast("Choose their label first: a number key, or / to search.");
    return;
  }
  var kept = state.page.filter(function (i) { return !state.deselected.has(i.id); });
  var released = state.page.filter(function (i) { return state.deselected.has(i.id); });
  if (!kept.length) {
    toast("Every image is deselected: keep at least one to label.");
    return;
  }
  var label = labelById.get(state.groupLabel);
  var body = {
    images: kept.map(function (i) { return i.id; }),
    label: state.groupLabel,
    released: released.map(function (i) { return i.id; }),
  };
  startKey();
  state.page = [];
  tilesEl.replaceChildren();
  inOrder(function () {
    return post(config.urls["group-label"], body).then(function (res) {
      if (!res.ok) {
        toast(message(res, "The group was not labelled."));
        return;
      }
      setAside = setAside.concat(body.released);
      updateCounts(kept.length);
      toast(kept.length + " labelled " + label.name + ".");
    }, function () {
      toast("The server cannot be reached: the group was not labelled.");
    });
  });
  fetchGroup();
}

// u: take the last submission back; its images (held again) are shown as the group.
export function undoGroup() {
  startKey();
  inOrder(function () {
    return post(config.urls.undo, {}).then(function (res) {
      if (!res.ok) {
        toast(message(res, "Nothing was undone."));
        return;
      }
      var items = res.data.items || [];
      updateCounts(-(res.data.undone || []).length);
      toast("Undone: " + items.length + " back to label.");
      if (items.length) showGroup(items);
    }, function () {
      toast("The server cannot be reached: nothing was undone.");
    });
  });
}

// --- Search ( / ) ----------------------------------------------------------------------------


export function focusGroupSearch() {
  searchEl.focus();
}

function runSearch() {
  hits = matchingLabels(searchEl.value);
  hitIndex = 0;
  renderHits();
}

function renderHits() {
  resultsEl.replaceChildren();
  hits.forEach(function (label, i) {
    var li = document.createElement("li");
    li.id = "group-hit-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === hitIndex));
    li.textContent = label.path;
    li.addEventListener("mousedown", function (e) {
      e.preventDefault();
      hitIndex = i;
      chooseHit();
    });
    resultsEl.append(li);
  });
  var open = hits.length > 0;
  resultsEl.hidden = !open;
  searchEl.setAttribute("aria-expanded", String(open));
}

function chooseHit() {
  var label = hits[hitIndex];
  closeSearch();
  if (label) chooseLabel(label.id);
}

function closeSearch() {
  searchEl.value = "";
  hits = [];
  renderHits();
  searchEl.blur();
}

var searchReady = false;
function initGroupSearch() {
  if (searchReady) return;
  searchReady = true;
  searchEl.addEventListener("input", runSearch);
  searchEl.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var n = hits.length;
      if (!n) return;
      hitIndex = (hitIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderHits();
    } else if (e.key === "Enter") {
      e.preventDefault();
      chooseHit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      closeSearch();
    }
    e.stopPropagation();
  });
}
