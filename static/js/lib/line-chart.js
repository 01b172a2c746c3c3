/*
 * A small inline SVG line chart: one or more series of (epoch, value) points on shared
 * axes, the lowest and highest value and the first and last epoch written at the axes.
 * lineChart(svg, series, options) redraws ``svg`` in place (the page calls it at every poll).
 * A series is { name, css, points: [[epoch, value], ...] }; one with no points is left out.
 */
var SVG_NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  var node = document.createElementNS(SVG_NS, name);
  Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
  if (text !== undefined) node.textContent = text;
  return node;
}

export function lineChart(svg, series, options) {
  var width = options.width || 280;
  var height = options.height || 130;
  var format = options.format || function (v) { return v.toFixed(2); };
  var left = 44, right = 8, top = 18, bottom = 22;
  var shown = series.filter(function (s) { return s.points.length > 0; });
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.replaceChildren();
  svg.appendChild(el("text", { x: left, y: 12, class: "chart-title" }, options.title || ""));
  if (!shown.length) {
    svg.appendChild(el("text", { x: left, y: height / 2, class: "tick" }, "no epoch finished yet"));
    return;
  }
  var xs = [], ys = [];
  shown.forEach(function (s) {
    s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); });
  });
  var first = Math.min.apply(null, xs), last = Math.max.apply(null, xs);
  var low = Math.min.apply(null, ys), high = Math.max.apply(null, ys);
  var spanX = last - first || 1, spanY = high - low || 1;
  var plotW = width - left - right, plotH = height - top - bottom;
  function x(epoch) { return (left + ((epoch - first) / spanX) * plotW).toFixed(1); }
  function y(value) { return (top + ((high - value) / spanY) * plotH).toFixed(1); }
  var axisY = height - bottom;
  svg.appendChild(el("line", { x1: left, y1: axisY, x2: width - right, y2: axisY, class: "axis" }));
  svg.appendChild(el("line", { x1: left, y1: top, x2: left, y2: axisY, class: "axis" }));
  svg.appendChild(el("text", { x: left - 4, y: top + 8, "text-anchor": "end", class: "tick" }, format(high)));
  svg.appendChild(el("text", { x: left - 4, y: axisY, "text-anchor": "end", class: "tick" }, format(low)));
  svg.appendChild(el("text", { x: left, y: height - 6, class: "tick" }, "epoch " + first));
  svg.appendChild(el("text", { x: width - right, y: height - 6, "text-anchor": "end", class: "tick" }, String(last)));
  shown.forEach(function (s) {
    var points = s.points.map(function (p) { return x(p[0]) + "," + y(p[1]); }).join(" ");
    var line = el(s.points.length > 1 ? "polyline" : "circle",
      s.points.length > 1
        ? { points: points, class: "curve " + s.css }
        : { cx: x(s.points[0][0]), cy: y(s.points[0][1]), r: 3, class: "dot " + s.css });
    line.appendChild(el("title", {}, s.name));
    svg.appendChild(line);
  });
}

/* The points of one key of a run's history: [[epoch, value], ...] where it was logged. */
export function seriesOf(history, key) {
  return history
    .filter(function (entry) { return typeof entry[key] === "number"; })
    .map(function (entry) { return [entry.epoch, entry[key]]; });
}
