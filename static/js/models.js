/*
 * The models page: the Train form is sent in the background and the latest run's progress
 * bar is polled from its JSON endpoint (epoch / max_epochs, status, message) until the run
 * ends; then the page reloads once, so the table shows the new version. Without JavaScript
 * the form posts normally and the page shows the run as it was when loaded.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var form = document.getElementById("train-form");
  var card = document.getElementById("run-card");
  var box = document.getElementById("run-progress");
  var bar = document.getElementById("run-bar");
  var statusEl = document.getElementById("run-status");
  var epochsEl = document.getElementById("run-epochs");
  var whatEl = document.getElementById("run-what");
  var messageEl = document.getElementById("run-message");
  var versionEl = document.getElementById("run-version");
  var trainMessage = document.getElementById("train-message");
  var button = document.getElementById("train-button");
  var timer = null;

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
    epochsEl.textContent = "epoch " + run.epoch + " of at most " + run.max_epochs;
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
  }

  function poll() {
    timer = null;
    fetch(box.dataset.progressUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
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
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(form),
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, body: body };
          });
        })
        .then(function (answer) {
          if (!answer.ok) {
            trainMessage.textContent = answer.body.detail || "Training could not be started.";
            button.disabled = false;
            return;
          }
          show(answer.body.run);
          if (timer) window.clearTimeout(timer);
          follow(answer.body.run, false);
        })
        .catch(function () {
          trainMessage.textContent = "The server did not answer; try again.";
          button.disabled = false;
        });
    });
  }

  if (box && isActive(box.dataset.status)) {
    button.disabled = true;
    timer = window.setTimeout(poll, POLL_MS);
  }
})();
