/*
 * Single mode: one image at a time, 1–9 and 0 pick a suggestion (multi-label: toggle it), Enter
 * accepts, x rejects (no label is to be given), n says none of the above (it fits no label
 * of the taxonomy: a candidate for a new one), s skips, u undoes. Grid mode's deselected images are decided
 * here too (the "fix" view).
 */

import {
  choiceKeys,
  chosenEl,
  config,
  currentEl,
  fixingLeftEl,
  gridMode,
  gridSection,
  hooks,
  keyedTaxonomy,
  labelById,
  labels,
  nameEl,
  note,
  pct,
  setEmpty,
  single,
  stage,
  state,
  suggestionsList,
  toast,
  updateCounts,
} from "./context.js";
import { markRendered, startKey } from "./marks.js";
import { inOrder, message, needMore, post, preload } from "./requests.js";

export function show(item) {
  state.current = item;
  state.selected = new Set(config.multiLabel ? item.suggested : []);
  single.hidden = false;
  if (gridSection) gridSection.hidden = state.view !== "grid";
  setEmpty(false);
  nameEl.textContent = item.name || "Image " + item.id;
  currentEl.textContent = describeCurrent(item);
  renderSuggestions();
  var swap = function () {
    if (state.current !== item) return; // moved on while it loaded
    stage.replaceChildren(item.img);
    var small = item.img.naturalWidth * 2 < stage.clientWidth && item.img.naturalHeight * 2 < stage.clientHeight;
    item.img.classList.toggle("upscaled", small);
    stage.dataset.imageId = String(item.id);
    state.shownAt = performance.now();
    markRendered();
  };
  if (!item.img) preload(item, item.file);
  if (item.img.complete && item.img.naturalWidth) swap();
  else {
    stage.dataset.imageId = "";
    stage.replaceChildren(note("Loading…"));
    item.ready.then(swap);
  }
}


// An image no model has seen has no suggestions; a taxonomy of up to ten labels is then
// offered whole, by key, as one would label it by hand (search stays for larger ones).
export function choicesOf(item) {
  if (item.suggestions.length || !keyedTaxonomy) return item.suggestions;
  return labels.map(function (l) { return { label: l.id, name: l.name, probability: null }; });
}

function howToLabel() {
  return keyedTaxonomy ? "press its label's key, or search ( / )" : "search for its label ( / )";
}

export function describeCurrent(item) {
  if (!item.labels || !item.labels.length) {
    if (item.suggestions.length) return "";
    return "The model has not seen this image: " + howToLabel() + ".";
  }
  return "Tagged now: " + item.labels.map(function (l) {
    return l.name + (l.probability !== null ? " (" + pct(l.probability) + ")" : "");
  }).join(", ");
}


// Accept takes the top suggestion: with none (an image no model has seen) it is greyed out,
// so the page does not offer a key that does nothing.
var acceptButton = single.querySelector("[data-action='accept']");

export function renderSuggestions() {
  var item = state.current;
  if (acceptButton && !config.multiLabel) {
    acceptButton.disabled = !item.suggested.length;
    acceptButton.title = item.suggested.length ? "" : "Nothing is suggested: " + howToLabel();
  }
  suggestionsList.replaceChildren();
  suggestionsList.classList.toggle("by-key", !item.suggestions.length);
  choicesOf(item).slice(0, choiceKeys.length).forEach(function (s, i) {
    var li = document.createElement("li");
    li.dataset.labelId = String(s.label);
    li.className = "suggestion";
    if (config.multiLabel && state.selected.has(s.label)) li.classList.add("chosen");
    var button = document.createElement("button");
    button.type = "button";
    button.tabIndex = -1;
    var key = document.createElement("kbd");
    key.textContent = choiceKeys[i];
    var name = document.createElement("span");
    name.className = "suggestion-name";
    name.textContent = s.name;
    button.append(key, name);
    if (s.probability !== null) {
      var bar = document.createElement("span");
      bar.className = "suggestion-bar";
      bar.style.setProperty("--p", String(s.probability));
      var p = document.createElement("span");
      p.className = "suggestion-p";
      p.textContent = pct(s.probability);
      button.append(bar, p);
    }
    button.addEventListener("click", function () { pick(i); });
    li.append(button);
    suggestionsList.append(li);
  });
  renderChosen();
}

export function renderChosen() {
  if (!chosenEl) return;
  var names = Array.from(state.selected).map(function (id) {
    var l = labelById.get(id);
    return l ? l.name : String(id);
  });
  chosenEl.textContent = names.length ? names.join(", ") : "none yet";
  suggestionsList.querySelectorAll("li").forEach(function (li) {
    li.classList.toggle("chosen", state.selected.has(Number(li.dataset.labelId)));
  });
}

// --- Single mode --------------------------------------------------------------------------

export function advance() {
  var next = null;
  if (state.view === "fix") {
    next = state.fixing.shift() || null;
    fixingLeftEl.textContent = String(state.fixing.length + (next ? 1 : 0));
    if (!next) {
      hooks.enterGrid();
      return;
    }
  } else {
    next = state.buffer.shift() || null;
  }
  if (next) show(next);
  else {
    state.current = null;
    stage.dataset.imageId = "";
    stage.replaceChildren(note(state.exhausted ? "" : "Loading…"));
    if (state.exhausted) setEmpty(true);
  }
  if (state.view === "single") needMore();
}

export function decide(decision, labelIds) {
  var item = state.current;
  if (!item) return;
  var seconds = (performance.now() - state.shownAt) / 1000;
  state.current = null;
  advance();
  send([{
    image: item.id,
    lease: item.lease.token,
    decision: decision,
    labels: labelIds,
    seconds_spent: Math.round(seconds * 1000) / 1000,
  }]);
}

export function send(decisions) {
  return inOrder(function () { return submit(decisions); });
}

export function submit(decisions) {
  return post(config.urls.decisions, { decisions: decisions }).then(function (res) {
    if (res.ok) {
      updateCounts(decisions.length);
      return;
    }
    if (res.status === 409 && decisions.length > 1) {
      // Some went stale (someone else has them now): send the others again, at once (this
      // is already the request's turn).
      var stale = new Set((res.data.conflicts || []).map(function (c) { return c.image; }));
      toast(res.data.detail);
      var rest = decisions.filter(function (d) { return !stale.has(d.image); });
      if (rest.length && rest.length < decisions.length) return submit(rest);
      return;
    }
    toast(message(res, "Your decision was not saved."));
  }, function () {
    toast("Your decision was not saved: the server cannot be reached.");
  });
}

export function pick(index) {
  var item = state.current;
  if (!item) return;
  var s = choicesOf(item)[index];
  if (!s) return;
  if (config.multiLabel) {
    toggleLabel(s.label);
    return;
  }
  startKey();
  if (index === 0 && item.suggested.length === 1 && item.suggested[0] === s.label) decide("accept", []);
  else decide("correct", [s.label]);
}

export function toggleLabel(id) {
  if (state.selected.has(id)) state.selected.delete(id);
  else state.selected.add(id);
  renderChosen();
}

export function acceptCurrent() {
  var item = state.current;
  if (!item) return;
  if (config.multiLabel) {
    if (!state.selected.size) {
      toast("Choose at least one label, or press n: none of the above.");
      return;
    }
    var chosen = Array.from(state.selected);
    var same = chosen.length === item.suggested.length && item.suggested.every(function (id) { return state.selected.has(id); });
    startKey();
    decide(same ? "accept" : "correct", same ? [] : chosen);
    return;
  }
  if (!item.suggested.length) {
    toast("Nothing to accept: " + howToLabel() + ".");
    return;
  }
  startKey();
  decide("accept", []);
}

export function reject() {
  if (!state.current) return;
  startKey();
  decide("reject", []);
}

export function noLabel() {
  if (!state.current) return;
  startKey();
  decide("no_label", []);
}

export function skip() {
  var item = state.current;
  if (!item) return;
  startKey();
  state.skipped.push(item.id);
  state.known.delete(item.id);
  state.current = null;
  advance();
  inOrder(function () { return post(config.urls.release, { leases: [item.lease.token] }); });
}

export function undo() {
  inOrder(function () {
    return post(config.urls.undo, {}).then(function (res) {
      if (res.status === 404) {
        toast("Nothing to undo.");
        return;
      }
      if (!res.ok) {
        toast(message(res, "Could not undo."));
        return;
      }
      var items = res.data.items || [];
      updateCounts(-res.data.undone.length);
      toast("Undone.");
      if (!items.length) return;
      items.forEach(function (item) {
        state.known.add(item.id);
        preload(item, gridMode && items.length > 1 ? item.thumbnail || item.file : item.file);
      });
      startKey();
      if (gridMode && (items.length > 1 || state.view === "grid")) {
        // A page comes back as a page, in front of what was on screen.
        var looks = state.secondLooks.reduce(function (all, look) { return all.concat(look.items); }, []);
        var back = items.concat(state.page, state.current ? [state.current] : [], looks, state.fixing);
        state.page = [];
        state.current = null;
        state.fixing = [];
        state.secondLooks = [];
        state.buffer = back.concat(state.buffer);
        hooks.enterGrid();
        return;
      }
      if (state.current) {
        (state.view === "fix" ? state.fixing : state.buffer).unshift(state.current);
      }
      show(items[0]);
      items.slice(1).reverse().forEach(function (i) { state.buffer.unshift(i); });
    });
  });
}

