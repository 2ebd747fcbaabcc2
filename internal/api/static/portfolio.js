// kamflow portfolio: the definition pop-overs and the print button. The
// page works without this file: a definition opens and closes on its own
// (<details>), and the browser's print command prints the same page.
(function () {
  "use strict";

  var defs = document.querySelectorAll("details.pf-def");

  function closeAll(except) {
    defs.forEach(function (d) {
      if (d !== except) { d.open = false; }
    });
  }

  // One definition open at a time.
  defs.forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (d.open) { closeAll(d); }
    });
  });

  // A click elsewhere, or Escape, closes it.
  document.addEventListener("click", function (ev) {
    if (!ev.target.closest || !ev.target.closest("details.pf-def")) { closeAll(null); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") { return; }
    var open = document.querySelector("details.pf-def[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });

  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });
  window.addEventListener("beforeprint", function () { closeAll(null); });
})();
