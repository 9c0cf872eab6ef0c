// 听风工作台: SLA countdowns and the "/" shortcut. No inline scripts anywhere (strict CSP).
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function span(seconds) {
    var s = Math.abs(Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + "天" : "") + pad(h) + ":" + pad(m) + ":" + pad(s % 60);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".clock[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      var name = el.getAttribute("data-name") || "";
      var prefix = name ? name + " " : "";
      if (left <= 0) {
        el.classList.add("breached");
        el.textContent = prefix + "已超时 " + span(left);
      } else {
        el.textContent = prefix + "剩余 " + span(left);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSwap", tick);
    // the queue's auto-refresh waits while someone is on a row (keyboard focus kept)
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      var target = event.detail && event.detail.elt;
      if (target && target.id === "queue-rows" && target.contains(document.activeElement)) {
        event.preventDefault();
      }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    var target = document.querySelector("[data-search], .filters select, .filters input");
    if (target) { event.preventDefault(); target.focus(); }
  });
})();
