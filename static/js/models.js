/*
 * The models page: the Train form is sent in the background and the latest run's progress
 * bar is polled from its JSON endpoint (phase and how far into it, status, message) until the run
 * ends; then the page reloads once, so the table shows the new version. Without JavaScript
 * the form posts normally and the page shows the run as it was when loaded. While the run
 * trains, its loss and accuracy per finished epoch are drawn as two small line charts, redrawn
 * at every poll.
 */
import { lineChart, seriesOf } from "./lib/line-chart.js";
import { errorMessage, getJSON, request } from "./lib/request.js";

{
  var POLL_MS = 1000;
  var form = document.getElementById("train-form");
  var card = document.getElementById("run-card");
  var box = document.getElementById("run-progress");
  var bar = document.getElementById("run-bar");
  var statusEl = document.getElementById("run-status");
  var phaseEl = document.getElementById("run-phase");
  var whatEl = document.getElementById("run-what");
  var messageEl = document.getElementById("run-message");
  var versionEl = document.getElementById("run-version");
  var trainMessage = document.getElementById("train-message");
  var button = document.getElementById("train-button");
  var curves = document.getElementById("run-curves");
  var lossChart = document.getElementById("run-loss-chart");
  var accuracyChart = document.getElementById("run-accuracy-chart");
  var timer = null;

  function percent(v) { return Math.round(v * 100) + "%"; }

  function drawCurves(history) {
    if (!curves) return;
    curves.hidden = !history || !history.length;
    if (curves.hidden) return;
    curves.dataset.epochs = String(history.length);
    lineChart(lossChart, [
      { name: "training loss", css: "loss", points: seriesOf(history, "loss") },
      { name: "validation loss", css: "val-loss", points: seriesOf(history, "val_loss") },
    ], { title: "Loss", format: function (v) { return v.toFixed(2); } });
    lineChart(accuracyChart, [
      { name: "training accuracy", css: "loss", points: seriesOf(history, "accuracy") },
      { name: "validation accuracy", css: "val-loss", points: seriesOf(history, "val_accuracy") },
    ], { title: "Accuracy", format: percent });
  }

  function isActive(status) {
    return status === "queued" || status === "running";
  }

  function show(run) {
    card.hidden = false;
    box.dataset.status = run.status;
    box.dataset.progressUrl = run.progress_url;
    bar.value = run.percent;
    bar.textContent = run.percent + "%";
    statusEl.textContent = run.status_display;
    phaseEl.textContent = run.phase_text;
    whatEl.textContent = run.mode + ", " + run.backbone;
    messageEl.textContent = run.message || "";
    versionEl.hidden = !run.version;
    versionEl.textContent = "";
    if (run.version) {
      var link = document.createElement("a");
      link.href = run.version.url;
      link.textContent = "Open v" + run.version.number;
      versionEl.appendChild(link);
    }
    button.disabled = isActive(run.status);
    drawCurves(run.history);
  }

  function poll() {
    timer = null;
    getJSON(box.dataset.progressUrl)
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.data;
      })
      .then(function (run) {
        show(run);
        follow(run, true);
      })
      .catch(function () {
        timer = window.setTimeout(poll, POLL_MS * 3); // a hiccup: try again, more slowly
      });
  }

  function follow(run, wasPolled) {
    if (isActive(run.status)) {
      timer = window.setTimeout(poll, POLL_MS);
    } else if (wasPolled || run.status === "succeeded") {
      // The run ended while the page was open: reload once so the table shows the version.
      window.setTimeout(function () { window.location.reload(); }, 800);
    }
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      trainMessage.textContent = "";
      button.disabled = true;
      var data = new FormData(form);
      request(form.action, { method: "POST", form: data, csrfToken: data.get("csrfmiddlewaretoken") })
        .then(function (answer) {
          if (!answer.ok) {
            trainMessage.textContent = errorMessage(answer, "Training could not be started.");
            button.disabled = false;
            return;
          }
          show(answer.data.run);
          if (timer) window.clearTimeout(timer);
          follow(answer.data.run, false);
        })
        .catch(function (error) {
          trainMessage.textContent = error.message;
          button.disabled = false;
        });
    });
  }

  var initial = document.getElementById("run-history");
  if (initial) drawCurves(JSON.parse(initial.textContent));

  if (box && isActive(box.dataset.status)) {
    button.disabled = true;
    timer = window.setTimeout(poll, POLL_MS);
  }
}
