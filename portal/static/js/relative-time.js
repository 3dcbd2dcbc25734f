/* Adds "x minutes ago" next to absolute times marked <time data-relative>, in the page's
   language. Cached pages keep correct absolute times; this only adds the relative hint. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || "zh-Hans";
  if (!window.Intl || !Intl.RelativeTimeFormat) { return; }
  var format = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  var steps = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600],
               ["minute", 60]];
  function describe(seconds) {
    for (var i = 0; i < steps.length; i++) {
      if (Math.abs(seconds) >= steps[i][1]) {
        return format.format(Math.round(seconds / steps[i][1]), steps[i][0]);
      }
    }
    return format.format(0, "minute");
  }
  function refresh() {
    var nodes = document.querySelectorAll("time[data-relative]");
    var now = Date.now();
    for (var i = 0; i < nodes.length; i++) {
      var when = Date.parse(nodes[i].getAttribute("datetime"));
      if (isNaN(when)) { continue; }
      var hint = nodes[i].nextElementSibling;
      if (!hint || !hint.classList.contains("relative-time")) {
        hint = document.createElement("span");
        hint.className = "relative-time";
        nodes[i].parentNode.insertBefore(hint, nodes[i].nextSibling);
      }
      hint.textContent = " (" + describe((when - now) / 1000) + ")";
    }
  }
  refresh();
  window.setInterval(refresh, 30000);
}());
