/*
 * The review queue page. Everything goes through the review API (…/review/next, decisions,
 * undo, release), so the page holds no state the server does not know about.
 *
 * Speed: the page holds a few images ahead of the one on screen, already downloaded and
 * decoded, so a decision shows the next image at once; the decision is sent in the
 * background (in order, one request at a time) and the buffer is topped up after it.
 *
 * Single mode: 1–9 pick a suggestion (multi-label: toggle it), Enter accepts the top one
 * (multi-label: confirms the chosen ones), x none of these, / searches every label, u undoes,
 * s skips. Grid mode: a page of one class; arrows and Space (or a click) deselect the wrong
 * ones, Enter accepts the page, and the deselected ones are then decided one by one.
 *
 * Each keypress that shows a new image records "review-key" → "review-rendered" performance
 * marks; the durations are in window.reviewTimings (the benchmark reads them).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("review-config").textContent);
  var root = document.getElementById("review");
  var stage = document.getElementById("review-stage");
  var single = document.getElementById("review-single");
  var suggestionsList = document.getElementById("review-suggestions");
  var nameEl = document.getElementById("review-name");
  var currentEl = document.getElementById("review-current");
  var chosenEl = document.getElementById("review-chosen");
  var search = document.getElementById("review-search");
  var results = document.getElementById("review-search-results");
  var toastEl = document.getElementById("review-toast");
  var waitingEl = document.getElementById("review-waiting");
  var doneEl = document.getElementById("review-done");
  var emptyEl = document.getElementById("review-empty");
  var gridSection = document.getElementById("review-grid");
  var tilesEl = document.getElementById("grid-tiles");
  var fixingEl = document.getElementById("review-fixing");
  var fixingLeftEl = document.getElementById("review-fixing-left");

  var labels = config.labels;
  var labelById = new Map(labels.map(function (l) { return [l.id, l]; }));
  var gridMode = config.mode === "grid";

  var state = {
    view: gridMode ? "grid" : "single", // "single", "grid", or "fix" (grid's deselected ones)
    known: new Set(), // image ids received and not handed back
    buffer: [], // single: held images waiting their turn; grid: images for the next pages
    current: null, // single/fix: the image on screen
    page: [], // grid: the images on screen
    deselected: new Set(),
    cursor: 0,
    fixing: [], // grid: deselected images still to decide one by one
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
  window.reviewTimings = [];
  root.dataset.pending = "0";
  var keySeq = 0;
  var pendingMark = null;

  // --- Requests -------------------------------------------------------------------------

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": config.csrfToken,
      },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response
        .json()
        .catch(function () { return {}; })
        .then(function (data) { return { status: response.status, ok: response.ok, data: data }; });
    });
  }

  // Requests that change holds run one after another, so the server sees the decisions in
  // the order they were made and a top-up never races the decision before it.
  function inOrder(task) {
    setPending(1);
    var run = state.queue.then(task, task);
    state.queue = run.catch(function () {}).then(function () { setPending(-1); });
    return run;
  }

  // How many of those are still to answer: "data-pending" on the page, "Saving…" for people.
  var pending = 0;
  function setPending(change) {
    pending += change;
    root.dataset.pending = String(pending);
    root.classList.toggle("saving", pending > 0);
  }

  function filters() {
    var f = config.filters;
    var body = { status: f.status, order: f.order, exclude: state.skipped.slice(-1000) };
    if (f.label !== null && f.label !== undefined) body.label = f.label;
    if (f.batch !== null && f.batch !== undefined) body.batch = f.batch;
    return body;
  }

  function held() {
    // Everything the page still holds: shown, buffered, or waiting to be fixed.
    var items = state.buffer.concat(state.page, state.fixing);
    if (state.current) items.push(state.current);
    return items;
  }

  // --- Loading ahead ----------------------------------------------------------------------

  function preload(item, src) {
    var img = new Image();
    img.alt = item.name || "Image " + item.id;
    img.decoding = "async";
    img.src = src;
    item.img = img;
    item.ready = (img.decode ? img.decode() : Promise.resolve()).catch(function () {});
  }

  function accept(items) {
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

  function refill() {
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
        if (state.view === "single" && !state.current) advance();
        else if (state.view === "grid" && !state.page.length) showPage();
      }, function () {
        state.refilling = false;
        toast("The server cannot be reached; trying again shortly.");
        setTimeout(refill, 3000);
      });
    });
  }

  function needMore() {
    var ahead = gridMode ? state.buffer.length < config.gridPage : state.buffer.length < config.buffer;
    if (ahead && !state.exhausted) refill();
  }

  // --- Rendering --------------------------------------------------------------------------

  function markRendered() {
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

  function setEmpty(isEmpty) {
    emptyEl.hidden = !isEmpty;
    root.dataset.state = isEmpty ? "empty" : "ready";
    if (isEmpty) {
      single.hidden = true;
      if (gridSection) gridSection.hidden = true;
    }
  }

  function show(item) {
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

  function note(text) {
    var span = document.createElement("span");
    span.className = "stage-note";
    span.textContent = text;
    return span;
  }

  function describeCurrent(item) {
    if (!item.labels || !item.labels.length) return item.suggestions.length ? "" : "The model has not seen this image: search for its label ( / ).";
    return "Tagged now: " + item.labels.map(function (l) {
      return l.name + (l.probability !== null ? " (" + pct(l.probability) + ")" : "");
    }).join(", ");
  }

  function pct(p) {
    return Math.round(p * 100) + "%";
  }

  function renderSuggestions() {
    var item = state.current;
    suggestionsList.replaceChildren();
    item.suggestions.slice(0, 9).forEach(function (s, i) {
      var li = document.createElement("li");
      li.dataset.labelId = String(s.label);
      li.className = "suggestion";
      if (config.multiLabel && state.selected.has(s.label)) li.classList.add("chosen");
      var button = document.createElement("button");
      button.type = "button";
      button.tabIndex = -1;
      var key = document.createElement("kbd");
      key.textContent = String(i + 1);
      var name = document.createElement("span");
      name.className = "suggestion-name";
      name.textContent = s.name;
      var bar = document.createElement("span");
      bar.className = "suggestion-bar";
      bar.style.setProperty("--p", String(s.probability));
      var p = document.createElement("span");
      p.className = "suggestion-p";
      p.textContent = pct(s.probability);
      button.append(key, name, bar, p);
      button.addEventListener("click", function () { pick(i); });
      li.append(button);
      suggestionsList.append(li);
    });
    renderChosen();
  }

  function renderChosen() {
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

  function updateCounts(decided) {
    state.done += decided;
    state.waiting = Math.max(0, state.waiting - decided);
    doneEl.textContent = String(state.done);
    waitingEl.textContent = String(state.waiting);
  }

  // --- Single mode --------------------------------------------------------------------------

  function advance() {
    var next = null;
    if (state.view === "fix") {
      next = state.fixing.shift() || null;
      fixingLeftEl.textContent = String(state.fixing.length + (next ? 1 : 0));
      if (!next) {
        leaveFix();
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

  function decide(decision, labelIds) {
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

  function send(decisions) {
    return inOrder(function () { return submit(decisions); });
  }

  function submit(decisions) {
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

  function pick(index) {
    var item = state.current;
    if (!item) return;
    var s = item.suggestions[index];
    if (!s) return;
    if (config.multiLabel) {
      toggleLabel(s.label);
      return;
    }
    startKey();
    if (index === 0 && item.suggested.length === 1 && item.suggested[0] === s.label) decide("accept", []);
    else decide("correct", [s.label]);
  }

  function toggleLabel(id) {
    if (state.selected.has(id)) state.selected.delete(id);
    else state.selected.add(id);
    renderChosen();
  }

  function acceptCurrent() {
    var item = state.current;
    if (!item) return;
    if (config.multiLabel) {
      if (!state.selected.size) {
        toast("Choose at least one label, or press x: none of these.");
        return;
      }
      var chosen = Array.from(state.selected);
      var same = chosen.length === item.suggested.length && item.suggested.every(function (id) { return state.selected.has(id); });
      startKey();
      decide(same ? "accept" : "correct", same ? [] : chosen);
      return;
    }
    if (!item.suggested.length) {
      toast("Nothing to accept: search for the right label ( / ).");
      return;
    }
    startKey();
    decide("accept", []);
  }

  function reject() {
    if (!state.current) return;
    startKey();
    decide("reject", []);
  }

  function skip() {
    var item = state.current;
    if (!item) return;
    startKey();
    state.skipped.push(item.id);
    state.known.delete(item.id);
    state.current = null;
    advance();
    inOrder(function () { return post(config.urls.release, { leases: [item.lease.token] }); });
  }

  function undo() {
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
          var back = items.concat(state.page, state.current ? [state.current] : [], state.fixing);
          state.page = [];
          state.current = null;
          state.fixing = [];
          state.buffer = back.concat(state.buffer);
          enterGrid();
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

  // --- Search -------------------------------------------------------------------------------

  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var searchable = labels.map(function (l) {
    return { label: l, name: fold(l.name), key: fold(l.key), path: fold(l.path) };
  });

  function runSearch() {
    var q = fold(search.value.trim());
    if (!q) {
      state.searchHits = [];
      renderHits();
      return;
    }
    var scored = [];
    searchable.forEach(function (s) {
      var score = -1;
      if (s.name.startsWith(q) || s.key.startsWith(q)) score = 0;
      else if (s.name.split(/[\s\-_›]+/).some(function (w) { return w.startsWith(q); })) score = 1;
      else if (s.path.indexOf(q) >= 0 || s.key.indexOf(q) >= 0) score = 2;
      if (score >= 0) scored.push([score, s.label]);
    });
    scored.sort(function (a, b) { return a[0] - b[0] || a[1].path.localeCompare(b[1].path); });
    state.searchHits = scored.slice(0, 8).map(function (row) { return row[1]; });
    state.searchIndex = 0;
    renderHits();
  }

  function renderHits() {
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

  function chooseHit() {
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

  function closeSearch() {
    search.value = "";
    state.searchHits = [];
    renderHits();
    search.blur();
  }

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

  // --- Grid mode ----------------------------------------------------------------------------

  function confidence(item) {
    return item.confidence === null || item.confidence === undefined ? -1 : item.confidence;
  }

  function enterGrid() {
    state.view = "grid";
    fixingEl.hidden = true;
    single.hidden = true;
    gridSection.hidden = false;
    showPage();
  }

  function showPage() {
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

  function toggleTile(i) {
    var item = state.page[i];
    if (!item) return;
    if (state.deselected.has(item.id)) state.deselected.delete(item.id);
    else state.deselected.add(item.id);
    var li = tilesEl.children[i];
    li.setAttribute("aria-selected", String(!state.deselected.has(item.id)));
    li.classList.toggle("deselected", state.deselected.has(item.id));
    renderCursor();
  }

  function renderCursor() {
    Array.from(tilesEl.children).forEach(function (li, i) {
      li.classList.toggle("cursor", i === state.cursor);
    });
  }

  function columns() {
    var tiles = tilesEl.children;
    if (tiles.length < 2) return 1;
    var top = tiles[0].offsetTop;
    var n = 0;
    while (n < tiles.length && tiles[n].offsetTop === top) n += 1;
    return Math.max(1, n);
  }

  function moveCursor(key) {
    var n = state.page.length;
    if (!n) return;
    var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[key];
    state.cursor = Math.min(n - 1, Math.max(0, state.cursor + step));
    renderCursor();
    var li = tilesEl.children[state.cursor];
    if (li && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
  }

  function acceptPage() {
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
      state.fixing = wrong.map(function (item) {
        preload(item, item.file);
        return item;
      });
      gridSection.hidden = true;
      fixingEl.hidden = false;
      advance();
    } else {
      showPage();
    }
  }

  function leaveFix() {
    state.current = null;
    enterGrid();
  }

  // --- Keys ---------------------------------------------------------------------------------

  function startKey() {
    keySeq += 1;
    pendingMark = keySeq;
    performance.mark("review-key-" + keySeq);
  }

  function onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement) return;
    state.lastActivity = Date.now();
    var key = e.key;
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
    if (/^[1-9]$/.test(key)) {
      e.preventDefault();
      pick(Number(key) - 1);
    } else if (key === "Enter") {
      e.preventDefault();
      acceptCurrent();
    } else if (key === "x") {
      e.preventDefault();
      reject();
    } else if (key === "s") {
      e.preventDefault();
      skip();
    } else if (key === "/") {
      e.preventDefault();
      search.focus();
    }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", function () { state.lastActivity = Date.now(); });
  root.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.dataset.action;
      if (action === "accept") acceptCurrent();
      else if (action === "reject") reject();
      else if (action === "skip") skip();
      else if (action === "undo") undo();
      button.blur();
    });
  });

  // --- Messages -----------------------------------------------------------------------------

  var toastTimer = null;
  function toast(text) {
    toastEl.textContent = text;
    toastEl.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastEl.classList.remove("shown"); }, 5000);
  }

  function message(res, fallback) {
    var d = res.data || {};
    if (typeof d.detail === "string") return d.detail;
    var first = Object.keys(d)[0];
    if (first) return fallback + " " + [].concat(d[first]).join(" ");
    return fallback;
  }

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
      state.exhausted = false;
      refill();
    }
  }, Math.max(10, config.leaseSeconds / 2) * 1000);

  if (gridMode && config.filters.label === null) {
    setEmpty(true);
  } else {
    refill();
  }
})();
