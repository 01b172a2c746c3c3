/*
 * The embedding map: every image of the client as one point of a WebGL scatter plot
 * (regl-scatterplot), laid out by the worker so that similar images sit together.
 * Colour by label or status; scroll to zoom, drag to pan; hover a point for its thumbnail;
 * lasso a group (Shift-drag, or the Lasso mouse mode) and give it one label in one action,
 * taken back by Undo like any review. All the points come in one request.
 *
 * The root element reports what happened for tests and the benchmark: data-state
 * (loading, ready, empty, error), data-points, and data-render-ms (from the points'
 * request to the first frame drawn with them).
 */

import createScatterplot from "regl-scatterplot";
import { errorMessage, getJSON, postJSON } from "./lib/request.js";
import { describe, watch } from "./map/job.js";
import { renderLegend } from "./map/legend.js";
import { labelColours, statusColours } from "./map/palette.js";

const config = JSON.parse(document.getElementById("map-config").textContent);
const root = document.getElementById("map");
const stage = document.getElementById("map-stage");
const canvas = document.getElementById("map-canvas");
const empty = document.getElementById("map-empty");
const counts = document.getElementById("map-counts");
const job = document.getElementById("map-job");
const hover = document.getElementById("map-hover");
const hoverImg = document.getElementById("map-hover-img");
const hoverText = document.getElementById("map-hover-text");
const legend = document.getElementById("map-legend");
const selectedCount = document.getElementById("map-selected");
const message = document.getElementById("map-message");
const form = document.getElementById("map-label-form");
const labelInput = document.getElementById("map-label-input");
const labelSubmit = document.getElementById("map-label-submit");
const undoButton = document.getElementById("map-undo");
const computeButton = document.getElementById("map-compute");

let plot = null;
let data = null; // the server's answer, with label codes kept up to date locally
let colourBy = "label";
let selected = [];
let mouse = { x: 0, y: 0 };

function say(text, { error = false } = {}) {
  message.textContent = text;
  message.classList.toggle("error", error);
}

function showEmpty(text) {
  empty.textContent = text;
  empty.hidden = false;
}

function showJob(latest) {
  const state = describe(latest);
  job.textContent = state.text;
  job.hidden = !state.text;
  job.classList.toggle("failed", state.failed);
  if (computeButton) computeButton.disabled = state.active;
}

// ---- the plot ------------------------------------------------------------------------

function pointSize(n) {
  if (n > 20000) return 2.5;
  if (n > 5000) return 3.5;
  if (n > 500) return 5;
  return 8;
}

function createPlot() {
  const { width, height } = stage.getBoundingClientRect();
  const made = createScatterplot({
    canvas,
    width,
    height,
    backgroundColor: "#10151d",
    pointSize: pointSize(data.count),
    pointSizeSelected: pointSize(data.count) + 2,
    pointOutlineWidth: 1.5,
    opacity: data.count > 20000 ? 0.8 : 0.95,
    pointColorActive: "#ffffff",
    pointColorHover: "#ffffff",
    lassoColor: "#ffffff",
    lassoMinDelay: 10,
    lassoMinDist: 2,
    showReticle: false,
  });
  made.subscribe("pointOver", showHover);
  made.subscribe("pointOut", () => (hover.hidden = true));
  made.subscribe("select", ({ points }) => setSelection(points));
  made.subscribe("deselect", () => setSelection([]));
  new ResizeObserver(() => {
    const box = stage.getBoundingClientRect();
    made.set({ width: box.width, height: box.height });
  }).observe(stage);
  return made;
}

function columns() {
  const n = data.count;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  const valueA = new Float32Array(n);
  const valueB = new Float32Array(n);
  const unlabelled = data.labels.length;
  for (let i = 0; i < n; i += 1) {
    x[i] = (data.x[i] / data.quant) * 2 - 1;
    y[i] = (data.y[i] / data.quant) * 2 - 1;
    valueA[i] = data.label[i] < 0 ? unlabelled : data.label[i];
    valueB[i] = data.status[i];
  }
  return { x, y, valueA, valueB };
}

function colours() {
  return colourBy === "label" ? labelColours(data.labels.length) : statusColours(data.statuses);
}

function draw(options = {}) {
  plot.set({ colorBy: colourBy === "label" ? "valueA" : "valueB", pointColor: colours() });
  return plot.draw(columns(), { zDataType: "categorical", wDataType: "categorical", ...options });
}

function recount() {
  const labelCounts = new Array(data.labels.length + 1).fill(0);
  const statusCounts = new Array(data.statuses.length).fill(0);
  for (let i = 0; i < data.count; i += 1) {
    labelCounts[data.label[i] < 0 ? data.labels.length : data.label[i]] += 1;
    statusCounts[data.status[i]] += 1;
  }
  return { labelCounts, statusCounts };
}

function showLegend() {
  const palette = colours();
  const { labelCounts, statusCounts } = recount();
  const entries =
    colourBy === "label"
      ? [
          ...data.labels.map((label, code) => ({
            code,
            name: label.name,
            count: labelCounts[code],
            colour: palette[code],
          })),
          {
            code: data.labels.length,
            name: "No label",
            count: labelCounts[data.labels.length],
            colour: palette[data.labels.length],
          },
        ]
      : data.statuses.map((status, code) => ({
          code,
          name: status.name,
          count: statusCounts[code],
          colour: palette[code],
        }));
  renderLegend(legend, entries, pickCategory);
  const labelled = data.count - labelCounts[data.labels.length];
  counts.textContent =
    `${data.count.toLocaleString()} images · ${labelled.toLocaleString()} with a label` +
    (data.notOnMap ? ` · ${data.notOnMap.toLocaleString()} newer than this layout` : "");
}

function pickCategory(code) {
  const indices = [];
  for (let i = 0; i < data.count; i += 1) {
    const value =
      colourBy === "label" ? (data.label[i] < 0 ? data.labels.length : data.label[i]) : data.status[i];
    if (value === code) indices.push(i);
  }
  plot.select(indices);
}

function showHover(index) {
  const id = data.ids[index];
  hoverImg.src = config.thumbnail.replace("{id}", id);
  const code = data.label[index];
  const label = code >= 0 ? data.labels[code].name : "no label";
  hoverText.textContent = `Image ${id} · ${label} · ${data.statuses[data.status[index]].name}`;
  const box = stage.getBoundingClientRect();
  const left = Math.min(mouse.x + 14, box.width - 180);
  const top = mouse.y + 14 + 210 > box.height ? mouse.y - 224 : mouse.y + 14;
  hover.style.left = `${Math.max(0, left)}px`;
  hover.style.top = `${Math.max(0, top)}px`;
  hover.hidden = false;
}

stage.addEventListener("mousemove", (event) => {
  const box = stage.getBoundingClientRect();
  mouse = { x: event.clientX - box.left, y: event.clientY - box.top };
});
stage.addEventListener("mouseleave", () => (hover.hidden = true));

// ---- selection and labelling ---------------------------------------------------------

function setSelection(points) {
  selected = points || [];
  selectedCount.textContent = selected.length.toLocaleString();
  if (labelSubmit) {
    labelSubmit.disabled = selected.length === 0;
    labelSubmit.textContent = selected.length
      ? `Label the ${selected.length.toLocaleString()} selected images`
      : "Label the selected images";
  }
}

function findLabel(text) {
  const wanted = text.trim().toLowerCase();
  if (!wanted) return null;
  const exact = config.labels.find((l) => l.path.toLowerCase() === wanted);
  if (exact) return exact;
  const matches = config.labels.filter((l) => l.path.toLowerCase().includes(wanted));
  return matches.length === 1 ? matches[0] : null;
}

function codeOf(labelId, name) {
  let code = data.labels.findIndex((l) => l.id === labelId);
  if (code < 0) {
    data.labels.push({ id: labelId, name, count: 0 });
    code = data.labels.length - 1;
  }
  return code;
}

function labelSelected(event) {
  event.preventDefault();
  const label = findLabel(labelInput.value);
  if (!label) {
    say(`No single label matches “${labelInput.value}”: choose one from the list.`, { error: true });
    return;
  }
  const indices = selected.slice();
  const images = indices.map((i) => data.ids[i]);
  labelSubmit.disabled = true;
  say(`Labelling ${images.length.toLocaleString()} images…`);
  postJSON(config.label, { images, label: label.id }, config.csrfToken)
    .then((res) => {
      if (!res.ok) {
        say(errorMessage(res, "The images were not labelled."), { error: true });
        return;
      }
      const labelled = new Set(res.data.labelled);
      const code = codeOf(label.id, label.path);
      const verified = data.statuses.findIndex((s) => s.key === "verified");
      for (const i of indices) {
        if (labelled.has(data.ids[i])) {
          data.label[i] = code;
          data.status[i] = verified;
        }
      }
      const skipped = Object.entries(res.data.skipped || {})
        .map(([why, n]) => `${n} ${why}`)
        .join(", ");
      say(
        `${labelled.size.toLocaleString()} images labelled ${label.path}.` +
          (skipped ? ` Left out: ${skipped}.` : ""),
      );
      if (undoButton && labelled.size) undoButton.hidden = false;
      redraw();
    })
    .catch((error) => say(error.message, { error: true }))
    .finally(() => setSelection([]));
}

function undo() {
  undoButton.disabled = true;
  postJSON(config.undo, {}, config.csrfToken)
    .then((res) => {
      if (!res.ok) {
        say(errorMessage(res, "Nothing was undone."), { error: true });
        return null;
      }
      say(`${res.data.undone.length.toLocaleString()} images are back as they were.`);
      undoButton.hidden = true;
      return loadPoints({ keepView: true });
    })
    .catch((error) => say(error.message, { error: true }))
    .finally(() => (undoButton.disabled = false));
}

function redraw() {
  plot.deselect({ preventEvent: true });
  return draw({ preventFilterReset: true }).then(showLegend);
}

// ---- loading -------------------------------------------------------------------------

function loadPoints({ keepView = false } = {}) {
  const started = performance.now();
  root.dataset.state = "loading";
  return getJSON(config.points).then((res) => {
    if (res.status === 404) {
      root.dataset.state = "empty";
      showEmpty(
        config.canLabel
          ? "No map has been laid out yet: press “Lay out again” to ask a worker for one."
          : "No map has been laid out yet.",
      );
      return;
    }
    if (!res.ok) {
      root.dataset.state = "error";
      showEmpty(errorMessage(res, "The map could not be loaded."));
      return;
    }
    data = res.data;
    empty.hidden = true;
    if (!plot) {
      try {
        plot = createPlot();
      } catch (error) {
        root.dataset.state = "error";
        showEmpty(`This browser cannot draw the map (WebGL is not available): ${error.message}`);
        return;
      }
    }
    return draw().then(() => {
      // The frame after the draw: what the person sees.
      requestAnimationFrame(() => {
        root.dataset.renderMs = String(Math.round(performance.now() - started));
        root.dataset.points = String(data.count);
        root.dataset.state = "ready";
      });
      if (!keepView) plot.reset();
      showLegend();
    });
  });
}

// ---- controls ------------------------------------------------------------------------

function setColour(value) {
  colourBy = value;
  document.querySelector(`#map-colour input[value="${value}"]`).checked = true;
  if (!plot || !data) return;
  plot.set({ colorBy: value === "label" ? "valueA" : "valueB", pointColor: colours() });
  showLegend();
}

function setMode(value) {
  document.querySelector(`#map-mode input[value="${value}"]`).checked = true;
  if (plot) plot.set({ mouseMode: value });
}

document.getElementById("map-colour").addEventListener("change", (e) => setColour(e.target.value));
document.getElementById("map-mode").addEventListener("change", (e) => setMode(e.target.value));
document.getElementById("map-reset").addEventListener("click", () => plot && plot.reset());
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey) return;
  if (event.key === "c") setColour(colourBy === "label" ? "status" : "label");
  else if (event.key === "l") {
    const lasso = document.querySelector('#map-mode input[value="lasso"]').checked;
    setMode(lasso ? "panZoom" : "lasso");
  } else if (event.key === "0" && plot) plot.reset();
  else if (event.key === "Escape" && plot) plot.deselect();
});

if (form) {
  const options = document.getElementById("map-label-options");
  options.replaceChildren(
    ...config.labels.map((label) => {
      const option = document.createElement("option");
      option.value = label.path;
      return option;
    }),
  );
  form.addEventListener("submit", labelSelected);
}
if (undoButton) undoButton.addEventListener("click", undo);
if (computeButton) {
  computeButton.addEventListener("click", () => {
    computeButton.disabled = true;
    postJSON(config.compute, {}, config.csrfToken)
      .then((res) => {
        if (!res.ok) {
          say(errorMessage(res, "No new layout was asked for."), { error: true });
          computeButton.disabled = false;
          return;
        }
        follow(res.data.latest);
      })
      .catch((error) => {
        say(error.message, { error: true });
        computeButton.disabled = false;
      });
  });
}

function follow(latest) {
  watch(config.state, latest, showJob).then((final) => {
    if (final && final.status === "succeeded") {
      job.textContent = `A new layout of ${final.points.toLocaleString()} images is ready.`;
      job.hidden = false;
      loadPoints();
    }
  });
}

loadPoints();
if (describe(config.latest).active) follow(config.latest);
else showJob(config.latest);
