/* alert-analyst workbench: live list rows and evidence charts (uPlot). No inline script: CSP script-src 'self'. */
(function () {
  "use strict";
  var REFRESH_MS = 10000;

  /* Our own path as an absolute URL on the page's origin. fetch() refuses a relative URL when the page was
     opened as http://user:password@host/... (the credentials would be resolved into it); the origin never
     carries them, and the browser still sends the Basic credentials it holds for this origin. */
  function own(path) {
    return new URL(path, window.location.origin).toString();
  }

  function liveRows() {
    var body = document.getElementById("rows");
    if (!body) return;
    var url = body.getAttribute("data-rows-url");
    var status = document.getElementById("live");
    setInterval(function () {
      if (document.hidden) return;
      fetch(own(url), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
        .then(function (html) {
          body.innerHTML = html; /* server-rendered, autoescaped rows of our own origin */
          if (status) status.textContent = "live: updated " + new Date().toLocaleTimeString();
        })
        .catch(function (e) { if (status) status.textContent = "live: " + e.message; });
    }, REFRESH_MS);
  }

  var MARK_COLORS = { onset: "#a15c00", "back to normal": "#5b6b7a", "alert start": "#b3261e", resolved: "#2e7d32", fired: "#b3261e" };

  function markPlugin(marks) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          Object.keys(marks).forEach(function (name) {
            var t = marks[name];
            if (t === null || t === undefined) return;
            var x = u.valToPos(t, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            ctx.save();
            ctx.strokeStyle = MARK_COLORS[name] || MARK_COLORS[name.split(" ")[0]] || "#555";
            ctx.setLineDash([5, 4]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          });
        }]
      }
    };
  }

  var UNITS = [[1e9, 1e9, "G"], [1e6, 1e6, "M"], [1e3, 1e4, "k"]]; /* unit, from, suffix */

  /* A value in G/M/k. With `step` (the spacing of an axis' ticks), as many decimals as tell neighbouring
     ticks apart: a 2.13 GB series that moves by 5 MB reads 2.130G, 2.135G, not 2.1G four times. */
  function compact(v, step) {
    if (v === null || v === undefined) return "";
    var a = Math.abs(v);
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i][0];
      if (a >= UNITS[i][1]) {
        var digits = step > 0 ? Math.ceil(-Math.log10(step / unit) - 1e-9) : (a >= 10 * unit ? 0 : 1);
        return (v / unit).toFixed(Math.min(6, Math.max(0, digits))) + UNITS[i][2];
      }
    }
    return String(Math.round(v * 1e4) / 1e4);
  }

  function axisValues(u, splits) {
    var step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 0;
    return splits.map(function (v) { return compact(v, step); });
  }

  function axisSize(u, values) { /* wide enough for the longest tick label (px) */
    var longest = (values || []).reduce(function (n, v) { return Math.max(n, String(v).length); }, 0);
    return Math.max(50, 8 * longest + 16);
  }

  window.alertAnalyst = { compact: compact }; /* for the browser tests */

  function drawChart(fig) {
    var plot = fig.querySelector(".plot");
    var q = new URLSearchParams({
      query: fig.getAttribute("data-query"),
      match: fig.getAttribute("data-match"),
      start: fig.getAttribute("data-start"),
      end: fig.getAttribute("data-end")
    });
    var marks = JSON.parse(fig.getAttribute("data-marks") || "{}");
    fetch(own("/ui/series.json?" + q.toString()), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data.series || !data.series.length) {
          var p = document.createElement("p");
          p.className = "fail";
          p.textContent = data.error ? "no data: " + data.error : "no data in the window (retention?)";
          plot.appendChild(p);
          return;
        }
        var s = data.series[0];
        var width = Math.max(300, plot.clientWidth || fig.clientWidth - 12);
        var opts = {
          width: width,
          height: 200,
          legend: { show: true },
          scales: { x: { time: true, range: [Number(fig.getAttribute("data-start")), Number(fig.getAttribute("data-end"))] } },
          axes: [{}, { size: axisSize, values: axisValues }],
          series: [{}, { label: "value", stroke: "#1f5fbf", width: 1.5, spanGaps: false, value: function (u, v) { return compact(v); } }],
          plugins: [markPlugin(marks)]
        };
        var chart = new uPlot(opts, [s.t, s.v], plot);
        plot.setAttribute("data-points", String(s.t.length));
        fig.uplot = chart;
      })
      .catch(function (e) {
        var p = document.createElement("p");
        p.className = "fail";
        p.textContent = "chart failed: " + e.message;
        plot.appendChild(p);
      });
  }

  function charts() {
    var figs = document.querySelectorAll("figure.chart");
    if (!figs.length) return;
    var load = function () { figs.forEach(drawChart); };
    if (window.uPlot) { load(); return; }
    var script = document.createElement("script");
    script.src = "/ui/static/uplot/uPlot.iife.min.js";
    script.onload = load;
    document.head.appendChild(script);
  }

  function confirmations() { /* forms that change something ask first (data-confirm: the question) */
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { liveRows(); charts(); confirmations(); });
})();
