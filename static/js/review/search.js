/*
 * Search every label of the taxonomy ( / ): prefix of a name or key first, then of a
 * word, then anywhere in the path; accents and case do not matter.
 */

import { config, labels, results, search, state } from "./context.js";
import { startKey } from "./marks.js";
import { decide, toggleLabel } from "./single.js";


export function fold(text) {
  return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}
var searchable = labels.map(function (l) {
  return { label: l, name: fold(l.name), key: fold(l.key), path: fold(l.path) };
});

// The labels matching what was typed, best first, at most eight (every search box of the
// review page ranks them so).
export function matchingLabels(typed) {
  var q = fold(typed.trim());
  if (!q) return [];
  var scored = [];
  searchable.forEach(function (s) {
    var score = -1;
    if (s.name.startsWith(q) || s.key.startsWith(q)) score = 0;
    else if (s.name.split(/[\s\-_›]+/).some(function (w) { return w.startsWith(q); })) score = 1;
    else if (s.path.indexOf(q) >= 0 || s.key.indexOf(q) >= 0) score = 2;
    if (score >= 0) scored.push([score, s.label]);
  });
  scored.sort(function (a, b) { return a[0] - b[0] || a[1].path.localeCompare(b[1].path); });
  return scored.slice(0, 8).map(function (row) { return row[1]; });
}

export function runSearch() {
  state.searchHits = matchingLabels(search.value);
  state.searchIndex = 0;
  renderHits();
}

export function renderHits() {
  results.replaceChildren();
  state.searchHits.forEach(function (label, i) {
    var li = document.createElement("li");
    li.setAttribute("role", "option");
    li.id = "review-hit-" + i;
    li.dataset.labelId = String(label.id);
    li.textContent = label.path;
    if (i === state.searchIndex) li.setAttribute("aria-selected", "true");
    li.addEventListener("mousedown", function (e) {
      e.preventDefault();
      state.searchIndex = i;
      chooseHit();
    });
    results.append(li);
  });
  var open = state.searchHits.length > 0;
  results.hidden = !open;
  search.setAttribute("aria-expanded", String(open));
  if (open) search.setAttribute("aria-activedescendant", "review-hit-" + state.searchIndex);
  else search.removeAttribute("aria-activedescendant");
}

export function chooseHit() {
  var label = state.searchHits[state.searchIndex];
  if (!label || !state.current) return;
  closeSearch();
  if (config.multiLabel) {
    toggleLabel(label.id);
    return;
  }
  startKey();
  decide("correct", [label.id]);
}

export function closeSearch() {
  search.value = "";
  state.searchHits = [];
  renderHits();
  search.blur();
}

export function initSearch() {
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var n = state.searchHits.length;
      if (!n) return;
      state.searchIndex = (state.searchIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
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
