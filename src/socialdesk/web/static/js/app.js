// SPDX-License-Identifier: AGPL-3.0-or-later
// Small behaviours the pages opt into with data attributes. No inline scripts: the CSP
// allows scripts from our own origin only.
//   data-confirm="…"          on a form: ask before submitting
//   data-copy="#selector"     on a button: copy that input's value (or element's text)
//   data-browser-timezone     on an input: fill in the browser's time zone when empty
//   data-autosubmit           on a select: submit its form on change
//   data-back                 on a button: go back in history
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast toast-" + (kind || "success");
    item.textContent = message;
    box.appendChild(item);
    window.setTimeout(function () {
      item.classList.add("toast-leaving");
      window.setTimeout(function () { item.remove(); }, 300);
    }, 4000);
  }

  function fillTimezones(root) {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      zone = "";
    }
    root.querySelectorAll("input[data-browser-timezone]").forEach(function (input) {
      if (!input.value) input.value = zone || "UTC";
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var copyButton = target.closest("[data-copy]");
    if (copyButton) {
      var source = document.querySelector(copyButton.getAttribute("data-copy"));
      if (!source) return;
      var text = "value" in source ? source.value : source.textContent;
      if ("select" in source) source.select();
      var label = copyButton.querySelector("[data-copy-label]") || copyButton;
      copyText(text.trim()).then(function () {
        label.textContent = "Copied";
        window.setTimeout(function () { label.textContent = "Copy"; }, 2000);
      }, function () {
        toast("Copying did not work here; select the text and copy it by hand.", "error");
      });
      return;
    }
    if (target.closest("[data-back]")) {
      if (window.history.length > 1) window.history.back();
      else window.location.href = "/";
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });

  // htmx: show the server's message when a request is refused (a 403, a 409...).
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = "Something went wrong (" + xhr.status + "). Reload the page and try again.";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var found = doc.querySelector("[data-error-message]");
      if (found && found.textContent.trim()) message = found.textContent.trim();
    } catch (error) {
      // keep the generic message
    }
    toast(message, "error");
    // Put the control back the way the server has it.
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form) form.reset();
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server did not answer. Check your connection and try again.", "error");
  });
  document.addEventListener("sd:toast", function (event) {
    var detail = event.detail || {};
    toast(detail.message, detail.kind);
  });

  document.addEventListener("DOMContentLoaded", function () {
    fillTimezones(document);
  });
})();
