/*
 * What every part of the review page shares: the server's configuration, the page's
 * elements, and the one state object (the page holds nothing the server does not know).
 */

export const config = JSON.parse(document.getElementById("review-config").textContent);

const byId = (id) => document.getElementById(id);
export const root = byId("review");
export const stage = byId("review-stage");
export const single = byId("review-single");
export const suggestionsList = byId("review-suggestions");
export const nameEl = byId("review-name");
export const currentEl = byId("review-current");
export const chosenEl = byId("review-chosen");
export const search = byId("review-search");
export const results = byId("review-search-results");
export const toastEl = byId("review-toast");
export const waitingEl = byId("review-waiting");
export const doneEl = byId("review-done");
export const emptyEl = byId("review-empty");
export const gridSection = byId("review-grid");
export const tilesEl = byId("grid-tiles");
export const fixingEl = byId("review-fixing");
export const fixingLeftEl = byId("review-fixing-left");
export const secondLookEl = byId("grid-second-look");
export const secondLookLabelEl = byId("grid-second-look-label");

export const labels = config.labels;
// The keys that choose a label or suggestion, in order (the server's CHOICE_KEYS): the
// number row, 0 for the tenth.
export const choiceKeys = config.choiceKeys.split("");
// A taxonomy this small is offered whole, by key, where nothing is suggested.
export const keyedTaxonomy = labels.length <= choiceKeys.length;
export const labelById = new Map(labels.map((l) => [l.id, l]));
export const gridMode = config.mode === "grid";

export const state = {
  view: gridMode ? "grid" : "single", // "single", "grid", or "fix" (grid's deselected ones)
  known: new Set(), // image ids received and not handed back
  buffer: [], // single: held images waiting their turn; grid: images for the next pages
  current: null, // single/fix: the image on screen
  page: [], // grid: the images on screen
  deselected: new Set(),
  cursor: 0,
  fixing: [], // grid: deselected images still to decide one by one
  secondLooks: [], // grid: pages of deselected images, each of the model's next guess
  second: null, // grid: the second look on screen ({label, items}), or null
  selected: new Set(), // multi-label: the labels chosen for the current image
  skipped: [],
  shownAt: 0,
  queue: Promise.resolve(), // requests that change holds, one at a time, in order
  refilling: false,
  exhausted: false,
  searchHits: [],
  searchIndex: 0,
  lastActivity: Date.now(),
  done: 0,
  waiting: Number(waitingEl.dataset.waiting) || 0,
};

// What a part must ask of a part that depends on it (the module graph has no cycles, so
// that production's hashed file names can be computed): set once by review.js.
export const hooks = {
  refilled() {}, // new images arrived: show them if nothing is on screen
  enterGrid() {}, // back to grid mode's page
};

let toastTimer = null;
export function toast(text) {
  toastEl.textContent = text;
  toastEl.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toastEl.classList.remove("shown"), 5000);
}

export function pct(p) {
  return Math.round(p * 100) + "%";
}

export function held() {
  // Everything the page still holds: shown, buffered, or waiting to be fixed.
  const items = state.buffer.concat(state.page, state.fixing);
  state.secondLooks.forEach((look) => items.push(...look.items));
  if (state.current) items.push(state.current);
  return items;
}

export function setEmpty(isEmpty) {
  emptyEl.hidden = !isEmpty;
  root.dataset.state = isEmpty ? "empty" : "ready";
  if (isEmpty) {
    single.hidden = true;
    if (gridSection) gridSection.hidden = true;
  }
}

export function note(text) {
  var span = document.createElement("span");
  span.className = "stage-note";
  span.textContent = text;
  return span;
}

export function updateCounts(decided) {
  state.done += decided;
  state.waiting = Math.max(0, state.waiting - decided);
  doneEl.textContent = String(state.done);
  waitingEl.textContent = String(state.waiting);
  // Grid mode works one class's images (second looks and fixes included): its count in the
  // "Classes waiting" line goes down with them, as the page's own count does.
  var classCount = gridMode && config.filters.label !== null && config.filters.label !== undefined
    ? document.querySelector('.grid-choices a[data-label-id="' + config.filters.label + '"] [data-waiting]')
    : null;
  if (classCount) classCount.textContent = String(Math.max(0, Number(classCount.textContent) - decided));
}
