// SPDX-License-Identifier: AGPL-3.0-or-later
// The library's moving parts. Every form works without this file; with it:
//   form[data-upload]          files dropped or chosen upload one by one, each with a
//                              progress bar, and appear in #library-grid when done
//   form[data-file-drop]       a single-file drop zone shows the chosen file's name
//   form[data-template-form]   the template editor's live preview: the server renders
//                              the text with the sample values (one implementation)
(function () {
  "use strict";

  var PARALLEL_UPLOADS = 3;

  function csrfOf(form) {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function errorMessage(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (error) {
      // not JSON: fall through
    }
    if (xhr.status === 0) return "The server did not answer. Check your connection.";
    return "The upload failed (" + xhr.status + ").";
  }

  function sentence(text) {
    text = String(text || "").trim();
    if (!text) return text;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- uploads -----------------------------------------------------------------------

  function setupUpload(form) {
    var input = form.querySelector("input[type=file]");
    var list = document.querySelector("[data-upload-list]");
    var queue = [];
    var running = 0;
    var added = 0;

    function showInGrid(html) {
      var grid = document.getElementById("library-grid");
      if (!grid || !html) return;
      var holder = document.createElement("template");
      holder.innerHTML = html.trim();
      var card = holder.content.firstElementChild;
      if (!card) return;
      var existing = document.getElementById(card.id);
      if (existing) existing.remove();
      grid.prepend(card);
      if (grid.hidden) {
        grid.hidden = false;
        var empty = grid.parentElement.querySelector(".empty");
        if (empty) empty.remove();
      }
      card.classList.add("is-new");
    }

    function updateCount() {
      var count = document.querySelector("[data-library-count]");
      if (count && added) count.textContent = String(parseInt(count.textContent, 10) + added);
      added = 0;
    }

    function next() {
      while (running < PARALLEL_UPLOADS && queue.length) {
        running += 1;
        send(queue.shift());
      }
      if (!running && !queue.length) updateCount();
    }

    function send(job) {
      job.status.textContent = "Uploading…";
      var data = new FormData();
      data.append("csrf_token", csrfOf(form));
      data.append("files", job.file, job.file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", csrfOf(form));
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) job.bar.value = Math.round((event.loaded / event.total) * 100);
      });
      xhr.addEventListener("loadend", function () {
        running -= 1;
        job.bar.value = 100;
        if (xhr.status >= 200 && xhr.status < 300) {
          var body = {};
          try {
            body = JSON.parse(xhr.responseText);
          } catch (error) {
            body = {};
          }
          var item = (body.items || [])[0];
          if (item) {
            job.row.classList.add("is-done");
            job.status.textContent = item["new"] ? "Added" : "Already in the library";
            if (item["new"]) added += 1;
            showInGrid(item.html);
          } else {
            job.row.classList.add("is-failed");
            job.status.textContent = sentence((body.refused || [])[0] || "The file was not added");
          }
        } else {
          job.row.classList.add("is-failed");
          job.status.textContent = sentence(errorMessage(xhr));
        }
        next();
      });
      xhr.send(data);
    }

    function enqueue(files) {
      if (!list) return;
      Array.prototype.forEach.call(files, function (file) {
        var row = element("li", "lib-progress-item");
        var name = element("span", "lib-progress-name", file.name);
        var bar = element("progress");
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", "Uploading " + file.name);
        var status = element("span", "lib-progress-status", "Waiting…");
        row.append(name, bar, status);
        list.prepend(row);
        queue.push({ file: file, row: row, bar: bar, status: status });
      });
      next();
    }

    input.addEventListener("change", function () {
      if (input.files && input.files.length) enqueue(input.files);
      input.value = "";
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (input.files && input.files.length) enqueue(input.files);
      input.value = "";
    });
    dropTarget(form, function (files) {
      enqueue(files);
    });
  }

  // Highlight while something is dragged over; hand dropped files to ``onFiles``.
  function dropTarget(zone, onFiles) {
    var depth = 0;
    zone.addEventListener("dragenter", function (event) {
      event.preventDefault();
      depth += 1;
      zone.classList.add("is-dragging");
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
    });
    zone.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("is-dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("is-dragging");
      var files = event.dataTransfer ? event.dataTransfer.files : null;
      if (files && files.length) onFiles(files);
    });
  }

  function setupFileDrop(form) {
    var input = form.querySelector("input[type=file]");
    var label = form.querySelector("[data-file-name]");
    var original = label ? label.innerHTML : "";
    function show() {
      if (!label) return;
      if (input.files && input.files.length) {
        label.textContent = input.files[0].name;
        form.classList.add("has-file");
      } else {
        label.innerHTML = original;
        form.classList.remove("has-file");
      }
    }
    input.addEventListener("change", show);
    dropTarget(form, function (files) {
      var transfer = new DataTransfer();
      transfer.items.add(files[0]);
      input.files = transfer.files;
      show();
    });
  }

  // -- the template editor's preview -------------------------------------------------

  function setupTemplatePreview(form) {
    var text = form.querySelector("[data-template-text]");
    var samples = form.querySelector("[data-template-samples]");
    var sampleList = form.querySelector("[data-template-sample-list]");
    var output = form.querySelector("[data-template-preview-text]");
    var prefix = text.id.replace(/-text$/, "");
    var timer = null;
    var latest = 0;

    function syncSamples(names) {
      var existing = {};
      sampleList.querySelectorAll("[data-variable]").forEach(function (field) {
        existing[field.getAttribute("data-variable")] = field;
      });
      names.forEach(function (name, index) {
        var field = existing[name];
        if (!field) {
          field = element("div", "field");
          field.setAttribute("data-variable", name);
          var label = element("label");
          label.htmlFor = prefix + "-sample-" + name;
          label.append(element("code", "", "{" + name + "}"));
          var input = element("input");
          input.type = "text";
          input.id = label.htmlFor;
          input.name = "sample." + name;
          input.autocomplete = "off";
          field.append(label, input);
        }
        // Keep the template's order, moving a field only when it must (moving the one
        // being typed in would take the focus away).
        var here = sampleList.children[index] || null;
        if (here !== field) sampleList.insertBefore(field, here);
        delete existing[name];
      });
      Object.keys(existing).forEach(function (name) {
        existing[name].remove();
      });
      samples.hidden = names.length === 0;
    }

    function show(result) {
      output.classList.toggle("is-error", Boolean(result.error));
      output.textContent = "";
      if (result.error) {
        output.textContent = sentence(result.error);
      } else if (result.text !== null) {
        output.textContent = result.text;
      } else if (result.missing.length) {
        output.append(
          element(
            "span",
            "muted",
            "Give a sample value for " +
              result.missing.map(function (n) { return "{" + n + "}"; }).join(", ") +
              " to see the post."
          )
        );
      } else {
        output.append(element("span", "muted", "Type the text to see the post here."));
      }
    }

    function refresh() {
      var ticket = ++latest;
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRF-Token": csrfOf(form) },
        credentials: "same-origin",
      })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (result) {
          if (!result || ticket !== latest) return;
          syncSamples(result.variables);
          show(result);
        })
        .catch(function () {
          // The preview is a convenience; saving still checks everything.
        });
    }

    form.addEventListener("input", function (event) {
      var target = event.target;
      if (target === text || (target.name && target.name.indexOf("sample.") === 0)) {
        window.clearTimeout(timer);
        timer = window.setTimeout(refresh, 250);
      }
    });
    // No request on load: the server rendered the samples and preview already.
  }

  function init() {
    document.querySelectorAll("form[data-upload]").forEach(setupUpload);
    document.querySelectorAll("form[data-file-drop]").forEach(setupFileDrop);
    document.querySelectorAll("form[data-template-form]").forEach(setupTemplatePreview);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
