// Unknown-IP queue: "select every row on this page". A static file because the CSP
// allows scripts from 'self' only. Delegated, so it keeps working after htmx swaps.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) {
      return;
    }
    var name = all.getAttribute("data-select-all");
    var table = all.closest("table") || document;
    table.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
