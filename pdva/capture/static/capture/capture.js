// Capture forms: branching (show a field only when it applies), error focus, and keeping entries on a
// network failure (htmx does not swap on a failed request, so the form keeps what was typed).
(function () {
  "use strict";
  function valueOf(form, name) {
    var value = "";
    form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) value = el.value;
      } else {
        value = el.value;
      }
    });
    return value;
  }
  function applyBranching(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-show-if]").forEach(function (wrap) {
      var form = wrap.closest("form");
      if (!form) return;
      var allowed = (wrap.getAttribute("data-show-values") || "").split("|");
      wrap.hidden = allowed.indexOf(valueOf(form, wrap.getAttribute("data-show-if"))) === -1;
    });
  }
  function status(form, text) {
    var box = form && form.querySelector(".save-status");
    if (box) { box.textContent = text; box.className = "save-status error"; }
  }
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest("form");
    if (form) applyBranching(form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    applyBranching(document);
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();  // after a refused full-page save, start at the list of problems
  });
  document.addEventListener("htmx:load", function (e) {
    applyBranching(e.detail.elt);
    var summary = e.detail.elt.querySelector && e.detail.elt.querySelector(".error-summary");
    if (summary) summary.focus();
  });
  document.addEventListener("htmx:sendError", function (e) {
    status(e.detail.elt.closest("form"), "Not saved: the network connection failed. Your entries are still here; try Save again.");
  });
  document.addEventListener("htmx:responseError", function (e) {
    status(e.detail.elt.closest("form"), "Not saved: the server refused the request (" + e.detail.xhr.status + "). Your entries are still here.");
  });
})();
