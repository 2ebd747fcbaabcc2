// kamflow console: small progressive enhancements. Every page works without
// this file; it only makes times relative, stops double submits and applies
// filters as soon as they change.
(function () {
  "use strict";

  var units = [
    ["d", 86400], ["h", 3600], ["min", 60]
  ];

  function span(seconds) {
    var s = Math.abs(seconds);
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1]) {
        return Math.floor(s / units[i][1]) + " " + units[i][0];
      }
    }
    return "moments";
  }

  // <time data-rel="due"> reads "due in 3 h" / "overdue by 2 d";
  // <time data-rel> reads "in 3 h" / "2 d ago". The absolute time stays in
  // the title, so nothing is lost when hovering or with a screen reader.
  function relTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-rel]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (isNaN(t)) { return; }
      var d = (t - now) / 1000;
      var text;
      if (el.dataset.rel === "due") {
        text = d >= 0 ? "due in " + span(d) : "overdue by " + span(d);
      } else {
        text = d >= 0 ? "in " + span(d) : span(d) + " ago";
      }
      if (!el.title) { el.title = el.textContent.trim(); }
      el.textContent = text;
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset.submitting) { ev.preventDefault(); return; }
    form.dataset.submitting = "1";
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
      b.disabled = true;
      if (b.dataset.busy) { b.textContent = b.dataset.busy; }
    });
  });

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });

  // Pressing Enter in a notes box adds a line; Ctrl/Cmd+Enter submits.
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.form && ev.target.tagName === "TEXTAREA") {
      ev.preventDefault();
      ev.target.form.requestSubmit ? ev.target.form.requestSubmit() : ev.target.form.submit();
    }
  });

  relTimes();
  setInterval(relTimes, 60000);
})();
