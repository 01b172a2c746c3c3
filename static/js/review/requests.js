/*
 * Requests that change holds: the next images, decisions, undo and release, sent one
 * at a time and in order, and the buffer of images loaded ahead.
 */

import { errorMessage, postJSON } from "../lib/request.js";
import { config, gridMode, held, hooks, root, state, toast } from "./context.js";

export function post(url, body) {
  return postJSON(url, body, config.csrfToken);
}

// Requests that change holds run one after another, so the server sees the decisions in
// the order they were made and a top-up never races the decision before it.
export function inOrder(task) {
  setPending(1);
  var run = state.queue.then(task, task);
  state.queue = run.catch(function () {}).then(function () { setPending(-1); });
  return run;
}

// How many of those are still to answer: "data-pending" on the page, "Saving…" for people.
var pending = 0;
export function setPending(change) {
  pending += change;
  root.dataset.pending = String(pending);
  root.classList.toggle("saving", pending > 0);
}

export function filters() {
  var f = config.filters;
  var body = { status: f.status, order: f.order, exclude: state.skipped.slice(-1000) };
  if (f.label !== null && f.label !== undefined) body.label = f.label;
  if (f.batch !== null && f.batch !== undefined) body.batch = f.batch;
  return body;
}


// --- Loading ahead ----------------------------------------------------------------------

export function preload(item, src) {
  var img = new Image();
  img.alt = item.name || "Image " + item.id;
  img.decoding = "async";
  img.src = src;
  item.img = img;
  item.ready = (img.decode ? img.decode() : Promise.resolve()).catch(function () {});
}

export function accept(items) {
  // New items join the buffer; ones already here get their (possibly new) hold.
  var byId = new Map(held().map(function (i) { return [i.id, i]; }));
  var added = 0;
  items.forEach(function (item) {
    var mine = byId.get(item.id);
    if (mine) {
      mine.lease = item.lease;
      return;
    }
    if (state.known.has(item.id)) return; // decided and on its way
    state.known.add(item.id);
    preload(item, gridMode ? item.thumbnail || item.file : item.file);
    state.buffer.push(item);
    added += 1;
  });
  return added;
}

export function refill() {
  if (state.refilling) return state.queue;
  state.refilling = true;
  var want = gridMode ? config.gridPage * 2 : config.buffer + 1;
  return inOrder(function () {
    var body = filters();
    body.mode = gridMode ? "grid" : "single";
    body.count = want;
    return post(config.urls.next, body).then(function (res) {
      state.refilling = false;
      if (!res.ok) {
        toast(message(res, "Could not fetch more images."));
        return;
      }
      var items = res.data.items || [];
      accept(items);
      // Fewer than asked for: the queue has no more for now (the heartbeat looks again).
      state.exhausted = items.length < want;
      hooks.refilled();
    }, function () {
      state.refilling = false;
      toast("The server cannot be reached; trying again shortly.");
      setTimeout(refill, 3000);
    });
  });
}

export function needMore() {
  var ahead = gridMode ? state.buffer.length < config.gridPage : state.buffer.length < config.buffer;
  if (ahead && !state.exhausted) refill();
}

export const message = errorMessage;
