/*
 * The upload page: Uppy's Dashboard (drag and drop of files and folders, per-file and overall
 * progress, per-file errors, retry) sending one file per request to the batch files API.
 *
 * The batch is created on the first upload. The server's answer for each file (stored,
 * already in the library, refused with a reason; a stored one that looks like images already
 * in the library names them: "looks like image 503") is shown in the outcome table; rows are
 * added once per animation frame, so thousands of answers do not stall the page.
 */
import { errorMessage, postJSON } from "./lib/request.js";

{
  var config = JSON.parse(document.getElementById("upload-config").textContent);
  var csrfToken = document.querySelector("#batch-form [name=csrfmiddlewaretoken]").value;
  var UppyLib = window.Uppy;
  var batchPromise = null;
  var batch = null;

  var OUTCOME_TEXT = {
    stored: "Stored",
    duplicate: "Already in the library",
    rejected: "Refused",
    error: "Could not be sent",
  };

  var uppy = new UppyLib.Uppy({
    autoProceed: false,
    // Only the size is checked here, to save sending a huge file; the server checks the rest
    // and records every refusal on the batch.
    restrictions: { maxFileSize: config.maxFileBytes },
    locale: {
      strings: {
        exceedsSize: "%{file} is larger than %{size}, the most the library accepts.",
      },
    },
  });

  uppy.use(UppyLib.Dashboard, {
    inline: true,
    target: "#uploader",
    width: "100%",
    height: 460,
    fileManagerSelectionType: "both", // "browse files" and "browse folders"
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
    // Thousands of previews drawn on canvases would cost the browser more than they help.
    disableThumbnailGenerator: true,
    note: config.formats + " images, up to " + Math.round(config.maxFileBytes / 1048576) + " MB each",
  });

  uppy.use(UppyLib.XHRUpload, {
    endpoint: function () {
      return ensureBatch().then(function (b) {
        return b.files_url;
      });
    },
    fieldName: "file",
    formData: true,
    allowedMetaFields: [],
    limit: config.parallel,
    timeout: 120 * 1000,
    headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
    // Retry what may pass next time (network, server busy), never a refusal.
    shouldRetry: function (xhr) {
      return xhr.status === 0 || xhr.status === 429 || xhr.status >= 500;
    },
    onAfterResponse: function (xhr) {
      if (xhr.status >= 400 && xhr.status < 500) {
        throw new Error(messageOf(xhr));
      }
    },
  });

  function messageOf(xhr) {
    var body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (ignored) {
      body = null;
    }
    if (body && body.results && body.results.length && body.results[0].message) {
      return body.results[0].message;
    }
    if (xhr.status === 403) {
      return "Not allowed: your session may have ended or your role cannot upload. Reload the page.";
    }
    if (xhr.status === 413) {
      return "The file is too large for the server.";
    }
    if (body && body.detail) {
      return String(body.detail);
    }
    return "The server refused the file (HTTP " + xhr.status + ").";
  }

  function ensureBatch() {
    if (batchPromise) {
      return batchPromise;
    }
    var name = document.getElementById("batch-name").value;
    batchPromise = postJSON(config.batchesUrl, { name: name }, csrfToken)
      .then(function (res) {
        if (!res.ok) {
          throw new Error(errorMessage(res, "Could not start a batch."));
        }
        return res.data;
      })
      .then(function (created) {
        batch = created;
        showBatch(created);
        return created;
      })
      .catch(function (error) {
        batchPromise = null; // the next try starts again
        throw error;
      });
    return batchPromise;
  }

  function showBatch(created) {
    var link = document.getElementById("batch-link");
    link.textContent = "";
    var a = document.createElement("a");
    a.href = config.libraryUrl + "?batch=" + encodeURIComponent(created.id);
    a.textContent = "See “" + created.name + "” in the library";
    a.dataset.batchId = created.id;
    link.appendChild(a);
    link.hidden = false;
    document.getElementById("batch-name").disabled = true;
    document.getElementById("new-batch").hidden = false;
  }

  document.getElementById("new-batch").addEventListener("click", function () {
    uppy.cancelAll();
    batch = null;
    batchPromise = null;
    counts.stored = counts.duplicate = counts.rejected = counts.error = counts.looks_like = 0;
    rows.clear();
    pending.clear();
    document.querySelector("#upload-outcomes tbody").textContent = "";
    renderCounts();
    var name = document.getElementById("batch-name");
    name.disabled = false;
    name.value = "";
    document.getElementById("batch-link").hidden = true;
    document.getElementById("new-batch").hidden = true;
  });

  // --- Outcomes ------------------------------------------------------------------------
  var counts = { stored: 0, duplicate: 0, rejected: 0, error: 0, looks_like: 0 };
  var rows = new Map(); // file id → { row, outcome }
  var pending = new Map(); // file id → outcome waiting for the next frame
  var frameRequested = false;

  function record(file, outcome) {
    var previous = rows.get(file.id);
    if (previous && previous.outcome) {
      counts[previous.outcome.kind] -= 1; // a retried file: its new outcome replaces the old
      if (previous.outcome.looksLike && previous.outcome.looksLike.length) counts.looks_like -= 1;
    }
    counts[outcome.kind] += 1;
    if (outcome.looksLike && outcome.looksLike.length) counts.looks_like += 1;
    outcome.name = file.meta.relativePath || file.name;
    pending.set(file.id, outcome);
    if (!frameRequested) {
      frameRequested = true;
      window.requestAnimationFrame(flush);
    }
  }

  function flush() {
    frameRequested = false;
    var tbody = document.querySelector("#upload-outcomes tbody");
    var fragment = document.createDocumentFragment();
    pending.forEach(function (outcome, fileId) {
      var entry = rows.get(fileId);
      if (!entry) {
        entry = { row: document.createElement("tr"), outcome: null };
        entry.row.dataset.fileId = fileId;
        rows.set(fileId, entry);
        fragment.appendChild(entry.row);
      }
      entry.outcome = outcome;
      fillRow(entry.row, outcome);
    });
    pending.clear();
    tbody.appendChild(fragment);
    renderCounts();
  }

  function fillRow(row, outcome) {
    row.className = "outcome-" + outcome.kind;
    row.dataset.outcome = outcome.kind;
    row.dataset.code = outcome.code || "";
    row.textContent = "";
    var name = document.createElement("td");
    name.className = "outcome-name";
    name.textContent = outcome.name;
    var kind = document.createElement("td");
    kind.className = "outcome-kind";
    kind.textContent = OUTCOME_TEXT[outcome.kind];
    var details = document.createElement("td");
    details.className = "outcome-details";
    if (outcome.image && outcome.image.page) {
      var a = document.createElement("a");
      a.href = outcome.image.page;
      a.textContent = outcome.kind === "duplicate" ? "Image " + outcome.image.id : "Open";
      if (outcome.message) {
        details.appendChild(document.createTextNode(outcome.message + " "));
      }
      details.appendChild(a);
    } else {
      details.textContent = outcome.message || "";
    }
    if (outcome.looksLike && outcome.looksLike.length) {
      row.classList.add("looks-like");
      var note = document.createElement("span");
      note.className = "outcome-looks-like";
      note.append(document.createTextNode(" · looks like "));
      outcome.looksLike.forEach(function (other, i) {
        if (i) note.append(document.createTextNode(", "));
        var link = document.createElement("a");
        link.href = other.page;
        link.textContent = "image " + other.id;
        link.title = (other.name ? other.name + ": " : "") + other.bits + " of 64 hash bits differ";
        link.dataset.imageId = other.id;
        note.append(link);
      });
      details.append(note);
    }
    row.append(name, kind, details);
  }

  function renderCounts() {
    Object.keys(counts).forEach(function (kind) {
      document.querySelector('#upload-summary [data-count="' + kind + '"]').textContent =
        counts[kind].toLocaleString();
    });
  }

  uppy.on("upload-success", function (file, response) {
    var result = response && response.body && response.body.results && response.body.results[0];
    if (!result) {
      record(file, { kind: "error", message: "The server's answer could not be read." });
      return;
    }
    record(file, {
      kind: result.status === "duplicate" ? "duplicate" : "stored",
      code: result.code,
      message: result.message,
      image: result.image,
      looksLike: result.looks_like || [],
    });
  });

  uppy.on("upload-error", function (file, error, response) {
    var status = error && error.request ? error.request.status : 0;
    var refused = status >= 400 && status < 500 && status !== 403 && status !== 429;
    var message = error && error.message ? error.message : "Upload failed.";
    if (status === 0 && error && error.isNetworkError) {
      message = "The connection failed; press retry to send it again.";
    }
    if (!file) {
      return;
    }
    record(file, { kind: refused ? "rejected" : "error", message: message, code: "" });
    if (refused) {
      // Sending it again would be refused again: it leaves the uploader (its reason stays in
      // the outcome table), so Retry means the files that may pass, and new files can be added
      // and sent.
      window.setTimeout(function () {
        if (uppy.getFile(file.id)) {
          uppy.removeFile(file.id);
        }
        clearSettledError();
      }, 0);
    }
  });

  uppy.on("restriction-failed", function (file, error) {
    if (file) {
      record(file, { kind: "rejected", code: "file_too_large", message: error.message });
    }
  });

  // Uppy keeps "Upload failed" up until the next upload; once the refused files have left,
  // only files that failed to send (and can be retried) should keep it.
  function clearSettledError() {
    var failing = uppy.getFiles().some(function (f) {
      return f.error;
    });
    if (!failing && uppy.getState().error) {
      uppy.setState({ error: null });
    }
  }

  uppy.on("complete", function () {
    document.getElementById("uploader").dataset.complete = "true";
    window.setTimeout(clearSettledError, 0);
  });
  uppy.on("upload", function () {
    document.getElementById("uploader").dataset.complete = "false";
  });

  window.taxonomyUploader = uppy; // for people debugging in the console, and browser tests
}
