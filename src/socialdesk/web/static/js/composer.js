// SPDX-License-Identifier: AGPL-3.0-or-later
// The composer's moving parts, as the Alpine component "composer" (templates/composer.html).
//
// It keeps what the form cannot by itself: which tab is open, each channel's own text and
// thread parts, the media list (uploads with progress, order, alt text). It knows no
// network's rules: counters, problems and previews come from the server's live check,
// which htmx asks for on every change (the element #checker); changes made here without
// an input event (a removed image, a new thread part) ask with a "recheck" event.
(function () {
  "use strict";

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function errorMessage(xhrStatus, text) {
    try {
      var body = JSON.parse(text);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (error) {
      // not JSON: fall through
    }
    return "The server refused it (" + xhrStatus + ").";
  }

  var uploadKey = 0;

  function composer() {
    return {
      selected: [],
      text: "",
      media: [],
      channels: {},
      when: "queue",
      tab: "all",
      uploads: [],
      dragging: false,
      dragIndex: null,
      numbering: false,
      busy: null,
      splitError: {},
      splitNote: {},
      submitting: false,

      init: function () {
        var state = {};
        try {
          state = JSON.parse(this.$root.dataset.state || "{}");
        } catch (error) {
          state = {};
        }
        this.selected = state.selected || [];
        this.text = state.text || "";
        this.media = state.media || [];
        this.channels = state.channels || {};
        this.when = state.when || "queue";
        var self = this;
        // A channel that is not customised follows the shared text.
        this.$watch("text", function (value) {
          Object.keys(self.channels).forEach(function (id) {
            if (!self.channels[id].custom) self.channels[id].text = value;
          });
        });
        this.$watch("selected", function () {
          if (self.tab !== "all" && !self.isSelected(self.tab)) self.tab = "all";
          self.recheck();
        });
        // Back to this page from the browser's cache: the earlier submit is over.
        window.addEventListener("pageshow", function (event) {
          if (event.persisted) self.submitting = false;
        });
        var alert = document.getElementById("composer-problems");
        if (alert) alert.focus();
      },

      isSelected: function (id) {
        return this.selected.indexOf(id) !== -1;
      },

      recheck: function () {
        var root = this.$root;
        this.$nextTick(function () {
          root.dispatchEvent(new CustomEvent("recheck"));
        });
      },

      // -- tabs (a WAI-ARIA tablist: arrows, Home and End move between tabs) --

      openTab: function (id) {
        this.tab = id;
        this.$nextTick(function () {
          var button = document.getElementById("tab-" + id);
          if (button) button.focus();
        });
      },

      moveTab: function (delta) {
        var order = ["all"];
        var self = this;
        document.querySelectorAll('.tabs [role="tab"]').forEach(function (button) {
          var id = button.id.replace(/^tab-/, "");
          if (id !== "all" && self.isSelected(id)) order.push(id);
        });
        var index = order.indexOf(this.tab);
        var next = Math.max(0, Math.min(order.length - 1, index + delta));
        this.openTab(order[next]);
      },

      resetChannel: function (id) {
        this.channels[id].custom = false;
        this.channels[id].text = this.text;
        this.recheck();
      },

      // -- text helpers --

      insert: function (fieldId, value) {
        var field = document.getElementById(fieldId);
        if (!field) return;
        var start = field.selectionStart != null ? field.selectionStart : field.value.length;
        var end = field.selectionEnd != null ? field.selectionEnd : start;
        field.focus();
        field.setRangeText(value, start, end, "end");
        // x-model and the live check both listen for input events.
        field.dispatchEvent(new Event("input", { bubbles: true }));
      },

      // A saved template, filled in by the server (which checks every variable has a value).
      // Resolves to "" once inserted, or to the server's message saying what to fix.
      useTemplate: function (fieldId, templateId, values) {
        var self = this;
        var body = new FormData();
        Object.keys(values).forEach(function (name) {
          body.append("value." + name, values[name] || "");
        });
        return fetch(this.$root.dataset.templateUrl + templateId, {
          method: "POST",
          headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
          body: body,
          credentials: "same-origin",
        }).then(function (response) {
          return response.text().then(function (text) {
            if (!response.ok) return errorMessage(response.status, text);
            self.insert(fieldId, JSON.parse(text).text);
            return "";
          });
        }).catch(function () {
          return "The template could not be loaded; check your connection.";
        });
      },

      // -- threads --

      addPart: function (id) {
        this.channels[id].thread.push("");
        var index = this.channels[id].thread.length - 1;
        this.$nextTick(function () {
          var field = document.getElementById("ch-" + id + "-part-" + index);
          if (field) field.focus();
        });
        this.recheck();
      },

      removePart: function (id, index) {
        this.channels[id].thread.splice(index, 1);
        this.recheck();
      },

      split: function (id) {
        var self = this;
        var channel = this.channels[id];
        var source = [channel.text].concat(channel.thread).filter(function (part) {
          return part.trim() !== "";
        }).join("\n\n");
        var body = new FormData();
        body.append("channel_id", id);
        body.append("text", source);
        body.append("numbering", this.numbering ? "1" : "");
        this.busy = id;
        this.splitError[id] = "";
        this.splitNote[id] = "";
        fetch(this.$root.dataset.splitUrl, {
          method: "POST",
          headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
          body: body,
          credentials: "same-origin",
        }).then(function (response) {
          return response.text().then(function (text) {
            if (!response.ok) throw new Error(errorMessage(response.status, text));
            return JSON.parse(text);
          });
        }).then(function (data) {
          if (data.parts.length < 2 && channel.thread.length === 0) {
            self.splitNote[id] = "It fits in one post already.";
            return;
          }
          channel.custom = true;
          channel.text = data.parts[0] || "";
          channel.thread = data.parts.slice(1);
          self.recheck();
        }).catch(function (error) {
          self.splitError[id] = error.message;
        }).finally(function () {
          self.busy = null;
        });
      },

      // -- media: upload with progress, library, order, removal --

      upload: function (files) {
        var self = this;
        Array.prototype.forEach.call(files || [], function (file) {
          uploadKey += 1;
          var key = uploadKey;
          self.uploads.push({ key: key, name: file.name, progress: 0, error: "" });
          var entry = self.uploads[self.uploads.length - 1];
          var xhr = new XMLHttpRequest();
          xhr.open("POST", self.$root.dataset.uploadUrl);
          xhr.setRequestHeader("X-CSRF-Token", csrfToken());
          xhr.setRequestHeader("Accept", "application/json");
          xhr.upload.addEventListener("progress", function (event) {
            if (event.lengthComputable) entry.progress = Math.round((event.loaded * 100) / event.total);
          });
          xhr.addEventListener("load", function () {
            if (xhr.status === 201) {
              self.addAsset(JSON.parse(xhr.responseText), true);
              self.dismissUpload(key);
            } else {
              entry.error = file.name + ": " + errorMessage(xhr.status, xhr.responseText);
            }
          });
          xhr.addEventListener("error", function () {
            entry.error = file.name + ": the upload did not reach the server; check the connection.";
          });
          var body = new FormData();
          body.append("file", file);
          xhr.send(body);
        });
      },

      dismissUpload: function (key) {
        this.uploads = this.uploads.filter(function (item) { return item.key !== key; });
      },

      // ``asset`` is the API's MediaPublic (fromApi) or the library's item.
      addAsset: function (asset, fromApi) {
        var exists = this.media.some(function (item) { return item.id === asset.id; });
        if (exists) return;
        var id = asset.id;
        this.media.push({
          id: id,
          name: fromApi ? asset.filename : asset.name,
          alt: (fromApi ? asset.alt_text : asset.alt) || "",
          kind: asset.kind,
          url: this.$root.getAttribute("action") + "/media/" + id,
        });
        this.recheck();
      },

      openLibrary: function () {
        this.$refs.library.showModal();
      },

      pickFromLibrary: function (event) {
        var target = event.target instanceof Element ? event.target.closest("[data-asset]") : null;
        if (!target) {
          // A click on the backdrop (outside the dialog's box) closes it.
          if (event.target === this.$refs.library) this.$refs.library.close();
          return;
        }
        this.addAsset(JSON.parse(target.getAttribute("data-asset")), false);
        this.$refs.library.close();
      },

      moveMedia: function (index, delta) {
        var to = index + delta;
        if (to < 0 || to >= this.media.length) return;
        var item = this.media.splice(index, 1)[0];
        this.media.splice(to, 0, item);
        this.recheck();
      },

      removeMedia: function (index) {
        this.media.splice(index, 1);
        this.recheck();
      },

      dragStart: function (index, event) {
        this.dragIndex = index;
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", String(index));
      },

      dropOn: function (index, event) {
        event.preventDefault();
        this.dragging = false;
        if (this.hasFiles(event)) {
          this.upload(event.dataTransfer.files);
        } else if (this.dragIndex !== null && this.dragIndex !== index) {
          this.moveMedia(this.dragIndex, index - this.dragIndex);
        }
        this.dragIndex = null;
      },

      hasFiles: function (event) {
        var types = event.dataTransfer ? event.dataTransfer.types : [];
        return Array.prototype.indexOf.call(types, "Files") !== -1;
      },

      dragOver: function (event) {
        if (!this.hasFiles(event)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        this.dragging = true;
      },

      drop: function (event) {
        if (!this.hasFiles(event)) return;
        event.preventDefault();
        this.dragging = false;
        this.upload(event.dataTransfer.files);
      },

      // -- sending --

      primaryLabel: function () {
        return { queue: "Add to queue", at: "Schedule post", now: "Post now" }[this.when] || "Add to queue";
      },

      // A second press while the first is on its way would make a second post.
      guardSubmit: function (event) {
        if (this.submitting) {
          event.preventDefault();
          return;
        }
        this.submitting = true;
      },

      submitPrimary: function () {
        var button = this.$root.querySelector("[data-primary]");
        if (button) button.click();
      },
    };
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("composer", composer);
  });
})();
