// "Copy" buttons: <button data-copy-target="ID"> copies the text of element ID.
// A static file because the CSP allows scripts from 'self' only (no inline script).
(function () {
  "use strict";

  function say(button, text) {
    var status = document.getElementById(button.id + "-status");
    if (status) {
      status.textContent = text;
    }
  }

  // Without the clipboard API (plain http on a non-local host), select the text
  // so that Ctrl+C / Cmd+C copies it.
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var element = document.getElementById(button.getAttribute("data-copy-target"));
    if (!element) {
      return;
    }
    var text = element.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () {
          button.textContent = "Copied";
          say(button, "Copied to the clipboard.");
        },
        function () {
          selectText(element);
          say(button, "Selected: press Ctrl+C (⌘C) to copy.");
        }
      );
    } else {
      selectText(element);
      say(button, "Selected: press Ctrl+C (⌘C) to copy.");
    }
  });
})();
