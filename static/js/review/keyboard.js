/*
 * The keys of single and grid mode, and the buttons that do the same.
 */

import { choiceKeys, root, search, state } from "./context.js";
import { acceptPage, moveCursor, toggleTile } from "./grid.js";
import { chooseLabelByKey, focusGroupSearch, submitGroup, undoGroup } from "./groups.js";
import { startKey } from "./marks.js";
import { acceptCurrent, noLabel, pick, reject, skip, undo } from "./single.js";

export function onKey(e) {
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement) return;
  state.lastActivity = Date.now();
  var key = e.key;
  if (state.view === "group") {
    // Cluster labelling: the grid's keys to deselect, digits and / for the label.
    if (key.startsWith("Arrow")) {
      e.preventDefault();
      moveCursor(key);
    } else if (key === " " || key === "x") {
      e.preventDefault();
      toggleTile(state.cursor);
    } else if (choiceKeys.includes(key)) {
      e.preventDefault();
      chooseLabelByKey(choiceKeys.indexOf(key));
    } else if (key === "/") {
      e.preventDefault();
      focusGroupSearch();
    } else if (key === "Enter") {
      e.preventDefault();
      submitGroup();
    } else if (key === "u") {
      e.preventDefault();
      undoGroup();
    }
    return;
  }
  if (key === "u") {
    e.preventDefault();
    undo();
    return;
  }
  if (state.view === "grid") {
    if (key.startsWith("Arrow")) {
      e.preventDefault();
      moveCursor(key);
    } else if (key === " " || key === "x") {
      e.preventDefault();
      toggleTile(state.cursor);
    } else if (/^[1-9]$/.test(key)) {
      e.preventDefault();
      state.cursor = Number(key) - 1;
      toggleTile(state.cursor);
    } else if (key === "Enter") {
      e.preventDefault();
      acceptPage();
    }
    return;
  }
  if (choiceKeys.includes(key)) {
    e.preventDefault();
    pick(choiceKeys.indexOf(key));
  } else if (key === "Enter") {
    e.preventDefault();
    acceptCurrent();
  } else if (key === "x") {
    e.preventDefault();
    reject();
  } else if (key === "n") {
    e.preventDefault();
    noLabel();
  } else if (key === "s") {
    e.preventDefault();
    skip();
  } else if (key === "/") {
    e.preventDefault();
    search.focus();
  }
}

export function initKeys() {
  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", function () { state.lastActivity = Date.now(); });
  root.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.dataset.action;
      if (action === "accept") acceptCurrent();
      else if (action === "reject") reject();
      else if (action === "no-label") noLabel();
      else if (action === "skip") skip();
      else if (action === "undo") undo();
      button.blur();
    });
  });
}
