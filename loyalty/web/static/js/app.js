// Console and member page behaviour: CSRF for HTMX, error swaps, charts from JSON.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Show validation and conflict answers (4xx) in place instead of dropping them.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      window.htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "4..", swap: true, error: false },
        { code: "...", swap: false, error: true },
      ];
    }
    drawCharts(document);
    scrollableByKeyboard(document);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
    scrollableByKeyboard(event.target);
  });

  // A table wider than the screen scrolls sideways; keyboard users must reach it too.
  function scrollableByKeyboard(root) {
    root.querySelectorAll(".table-wrap, .scroll-box").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight) {
        el.setAttribute("tabindex", "0");
      }
    });
  }

  // <div class="chart" data-chart="ID"></div> + <script type="application/json" id="ID">
  // holding an ECharts option object.
  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var existing = window.echarts.getInstanceByDom(el);
      if (existing) existing.dispose();
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(source.textContent));
      el.setAttribute("data-chart-ready", "1");
    });
  }

  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });

  // Elements with data-confirm ask before their form is sent.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
