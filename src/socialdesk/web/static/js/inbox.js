// SPDX-License-Identifier: AGPL-3.0-or-later
// The inbox's keyboard and small behaviours. Every control works without this file; with it:
//   j / k        move through the list (the row gets focus), Enter opens it
//   r            write a reply, e close, a assign to me, x select for bulk, ? shortcuts
//   Ctrl+Enter   send the reply being written; Esc leaves a text box
//   saved replies are filled in for the conversation by the server and inserted at the caret
//   on a phone, the list and the conversation take turns (.ib.has-open)
(function () {
  "use strict";

  function inbox() {
    return document.getElementById("inbox");
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-rows] [data-row]"));
  }

  function currentRow() {
    var all = rows();
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("[data-row]") : null;
    if (focused) return focused;
    return all.find(function (row) { return row.classList.contains("is-cursor"); })
      || all.find(function (row) { return row.classList.contains("is-current"); })
      || null;
  }

  function moveCursor(step) {
    var all = rows();
    if (!all.length) return;
    var row = currentRow();
    var index = row ? all.indexOf(row) + step : (step > 0 ? 0 : all.length - 1);
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (r) { r.classList.remove("is-cursor"); });
    var target = all[index];
    target.classList.add("is-cursor");
    var link = target.querySelector("[data-row-link]");
    if (link) {
      link.focus();
      link.scrollIntoView({ block: "nearest" });
    }
  }

  function clickShortcut(key) {
    var button = document.querySelector('#conversation [data-shortcut="' + key + '"]');
    if (button && !button.disabled) {
      button.click();
      return true;
    }
    return false;
  }

  function focusReply() {
    var box = document.querySelector("#conversation [data-reply-text]");
    if (!box) return false;
    box.focus();
    box.scrollIntoView({ block: "nearest" });
    return true;
  }

  function toggleSelect() {
    var row = currentRow();
    var box = row ? row.querySelector("[data-select]") : null;
    if (!box) return false;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function dialog() {
    return document.getElementById("ib-shortcuts");
  }

  function openShortcuts() {
    var box = dialog();
    if (box && !box.open) box.showModal();
  }

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=true]"));
  }

  document.addEventListener("pointerdown", function (event) {
    var select = event.target instanceof Element ? event.target.closest("[data-saved-select]") : null;
    if (select) select.setAttribute("data-picked-by-pointer", "true");
  });

  document.addEventListener("keydown", function (event) {
    if (!inbox()) return;
    var target = event.target;
    if (event.key === "Enter" && target instanceof Element && target.matches("[data-saved-select]")) {
      event.preventDefault();
      insertSaved();
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target instanceof Element
        && target.matches("[data-reply-text]")) {
      event.preventDefault();
      var form = target.closest("form");
      if (form) form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && isTyping(target)) {
      target.blur();
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey || isTyping(target)) return;
    if (dialog() && dialog().open) return;
    var handled = true;
    switch (event.key) {
      case "j": moveCursor(1); break;
      case "k": moveCursor(-1); break;
      case "r": handled = focusReply(); break;
      case "e": handled = clickShortcut("e"); break;
      case "a": handled = clickShortcut("a"); break;
      case "x": handled = toggleSelect(); break;
      case "?": openShortcuts(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("[data-shortcuts-open]")) {
      openShortcuts();
      return;
    }
    if (target.closest("[data-shortcuts-close]")) {
      dialog().close();
      return;
    }
    var replyTo = target.closest("[data-reply-to]");
    if (replyTo) {
      var form = document.querySelector("[data-reply-form]");
      if (!form) return;
      form.querySelector("[data-reply-item]").value = replyTo.getAttribute("data-reply-to");
      var label = form.querySelector("[data-reply-target]");
      if (label) label.textContent = replyTo.getAttribute("data-reply-handle");
      focusReply();
      return;
    }
    var insert = target.closest("[data-saved-insert]");
    if (insert) {
      event.preventDefault();
      insertSaved();
    }
  });

  // -- saved replies ---------------------------------------------------------------------

  function insertAtCaret(box, text) {
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || 0;
    var before = box.value.slice(0, start);
    var after = box.value.slice(end);
    var glue = before && !/\s$/.test(before) ? " " : "";
    box.value = before + glue + text + after;
    var caret = (before + glue + text).length;
    box.focus();
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertSaved() {
    var form = document.querySelector("[data-reply-form]");
    var select = document.querySelector("[data-saved-select]");
    if (!form || !select || !select.value) return;
    var url = form.getAttribute("data-saved-url").replace("__id__", encodeURIComponent(select.value));
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || "not found");
          return body;
        });
      })
      .then(function (body) {
        insertAtCaret(form.querySelector("[data-reply-text]"), body.text);
        select.value = "";
      })
      .catch(function (error) {
        document.dispatchEvent(new CustomEvent("sd:toast", {
          detail: { message: "That saved reply could not be filled in: " + error.message, kind: "error" },
        }));
      });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.matches("[data-saved-select]")) {
      // Chosen with the mouse: insert now. With the keyboard, arrows change the value
      // option by option, so the reply is inserted with Enter or the Insert button.
      if (target.getAttribute("data-picked-by-pointer") === "true") insertSaved();
      target.removeAttribute("data-picked-by-pointer");
      return;
    }
    if (target.matches("[data-select], [data-select-all]")) {
      if (target.matches("[data-select-all]")) {
        rows().forEach(function (row) {
          var box = row.querySelector("[data-select]");
          if (box) box.checked = target.checked;
        });
      }
      updateSelection();
    }
  });

  function updateSelection() {
    var boxes = document.querySelectorAll("[data-rows] [data-select]");
    var chosen = Array.prototype.filter.call(boxes, function (box) { return box.checked; });
    rows().forEach(function (row) {
      var box = row.querySelector("[data-select]");
      row.classList.toggle("is-selected", Boolean(box && box.checked));
    });
    var count = document.querySelector("[data-selected-count]");
    if (count) count.textContent = chosen.length ? chosen.length + " selected" : "Select";
    var all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = chosen.length > 0 && chosen.length === boxes.length;
      all.indeterminate = chosen.length > 0 && chosen.length < boxes.length;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "inbox-bulk") return;
    var chosen = document.querySelectorAll("[data-rows] [data-select]:checked");
    if (!chosen.length) {
      event.preventDefault();
      document.dispatchEvent(new CustomEvent("sd:toast", {
        detail: { message: form.getAttribute("data-confirm-none"), kind: "error" },
      }));
    }
  });

  // -- the two columns -------------------------------------------------------------------

  function markCurrent(id) {
    var root = inbox();
    if (!root) return;
    root.setAttribute("data-current", id || "");
    root.classList.toggle("has-open", Boolean(id));
    rows().forEach(function (row) {
      var on = row.getAttribute("data-id") === id;
      row.classList.toggle("is-current", on);
      var link = row.querySelector("[data-row-link]");
      if (link) {
        if (on) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "conversation") {
      var article = target.querySelector("[data-conversation]");
      markCurrent(article ? article.getAttribute("data-conversation") : "");
      // Opened from the list: reading starts at the conversation (keys keep working).
      if (event.detail.requestConfig && event.detail.requestConfig.verb === "get") {
        target.focus({ preventScroll: true });
        if (window.matchMedia("(max-width: 900px)").matches) window.scrollTo(0, 0);
      }
    } else if (target.id === "inbox-list" || (target.closest && target.closest("#inbox"))) {
      var root = inbox();
      if (root) markCurrent(root.getAttribute("data-current"));
      updateSelection();
    }
  });

  // The list refreshes itself with the conversation open at that moment.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "inbox-list") return;
    var root = inbox();
    event.detail.parameters.current = root ? root.getAttribute("data-current") : "";
  });

  // Back to the list on a phone without a page load, when the list is on the page.
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-back-to-list]") : null;
    if (!target || !inbox() || !window.matchMedia("(max-width: 900px)").matches) return;
    event.preventDefault();
    inbox().classList.remove("has-open");
    window.history.pushState({}, "", target.getAttribute("href"));
    var row = document.querySelector("[data-rows] .is-current [data-row-link]");
    if (row) row.focus();
  });

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("inboxBulk", function () {
      return { action: "" };
    });
  });
})();
