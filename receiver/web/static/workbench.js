/* alert-analyst workbench: live list rows and evidence charts (uPlot). No inline script: CSP script-src 'self'. */
(function () {
  "use strict";
  var REFRESH_MS = 10000;
  /* uPlot's URL with its version (the page's script tag says it), loaded only by pages that chart */
  var here = document.currentScript;
  var UPLOT_SRC = (here && here.getAttribute("data-uplot")) || "/ui/static/uplot/uPlot.iife.min.js";

  /* Our own path as an absolute URL on the page's origin. fetch() refuses a relative URL when the page was
     opened as http://user:password@host/... (the credentials would be resolved into it); the origin never
     carries them, and the browser still sends the Basic credentials it holds for this origin. */
  function own(path) {
    return new URL(path, window.location.origin).toString();
  }

  /* The element holding the focus inside the rows, as a way to find it again: its row's incident id and
     its place among the row's focusable elements. */
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function focusPlace(body) {
    var el = document.activeElement;
    var row = el && body.contains(el) ? el.closest("tr[data-id]") : null;
    if (!row) return null;
    return { id: row.getAttribute("data-id"), index: Array.prototype.indexOf.call(row.querySelectorAll(FOCUSABLE), el) };
  }

  function refocus(body, place) {
    if (!place) return;
    var rows = body.querySelectorAll("tr[data-id]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-id") !== place.id) continue;
      var target = rows[i].querySelectorAll(FOCUSABLE)[Math.max(0, place.index)];
      if (target) target.focus({ preventScroll: true });
      return;
    }
  }

  function utcClock(date) { return date.toISOString().slice(11, 19) + " UTC"; } /* as every workbench time */

  /* The rows again every 10 s, with the same filters. Rows that read the same are left as they are (a
     keyboard or screen-reader user inside the list keeps their place); rows that changed are swapped and
     the focus goes back to the same place in the same incident's row. */
  function liveRows() {
    var body = document.getElementById("rows");
    if (!body) return;
    var url = body.getAttribute("data-rows-url");
    var status = document.getElementById("live");
    function refresh() {
      return fetch(own(url), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
        .then(function (html) {
          var parsed = document.createElement("template"); /* inert: nothing in it loads or runs */
          parsed.innerHTML = "<table><tbody>" + html + "</tbody></table>"; /* server-rendered, autoescaped */
          var fresh = parsed.content.querySelector("tbody");
          if (fresh.innerHTML.trim() !== body.innerHTML.trim()) {
            var place = focusPlace(body);
            body.innerHTML = fresh.innerHTML;
            refocus(body, place);
          }
          if (status) status.textContent = "live: updated " + utcClock(new Date());
        })
        .catch(function (e) { if (status) status.textContent = "live: " + e.message; });
    }
    window.alertAnalyst.refreshRows = refresh; /* for the browser tests */
    setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
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

  var UNITS = [[1e12, 1e12, "T"], [1e9, 1e9, "G"], [1e6, 1e6, "M"], [1e3, 1e4, "k"]]; /* unit, from, suffix */
  var EXPONENT_FROM = 1e15; /* 1000T and up, and below 1e-6: 6e19, 2.5e-7 */

  function decimalsOf(x) { /* decimals that write x (> 0) exactly, at most 12: 0.25 -> 2, 5e-6 -> 6, 100 -> 0 */
    for (var d = 0; d < 12; d++) {
      var scaled = x * Math.pow(10, d);
      if (Math.abs(scaled - Math.round(scaled)) <= 1e-6 * scaled) return d;
    }
    return 12;
  }

  function trimZeros(text) { /* "0.000100" -> "0.0001", "2.50e-7" -> "2.5e-7", "40" stays */
    var parts = text.split("e");
    if (parts[0].indexOf(".") >= 0) parts[0] = parts[0].replace(/0+$/, "").replace(/\.$/, "");
    return parts.join("e").replace("e+", "e");
  }

  function exponentForm(v, step) { /* the mantissa's digits reach down to the step's last digit */
    var stepExp = Math.floor(Math.log10(step));
    var digits = Math.floor(Math.log10(Math.abs(v))) - stepExp + decimalsOf(step / Math.pow(10, stepExp));
    return trimZeros(v.toExponential(Math.min(12, Math.max(0, digits))));
  }

  /* A value for an axis tick or the legend: from 10,000 up in k/M/G/T, from 1000T in exponent form; below,
     plain (in exponent form below 1e-6). With `step` (the spacing of an axis' ticks) as many digits as tell
     neighbouring ticks apart: a 2.13 GB series that moves by 5 MB reads 2.130G, 2.135G, not 2.1G four times;
     a funding rate near 1e-4 that moves by 5e-6 reads 0.000095, 0.0001. Without a step (the legend's value)
     5 significant digits in k/M/G/T, else 6. */
  function compact(v, step) {
    if (v === null || v === undefined) return "";
    if (!isFinite(v) || v === 0) return String(v);
    var a = Math.abs(v);
    var stepped = step > 0 && isFinite(step);
    if (stepped && a < step * 1e-6) return "0"; /* a tick at zero, off by rounding */
    if (a >= EXPONENT_FROM) return stepped ? exponentForm(v, step) : trimZeros(v.toExponential(4));
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i][0];
      if (a >= UNITS[i][1]) {
        if (!stepped) return trimZeros((v / unit).toPrecision(5)) + UNITS[i][2];
        return (v / unit).toFixed(Math.min(6, decimalsOf(step / unit))) + UNITS[i][2];
      }
    }
    if (!stepped) return String(Number(v.toPrecision(6))).replace("e+", "e");
    var decimals = decimalsOf(step);
    return decimals <= 6 ? trimZeros(v.toFixed(decimals)) : exponentForm(v, step);
  }

  function axisValues(u, splits) {
    var step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 0;
    return splits.map(function (v) { return compact(v, step); });
  }

  function axisSize(u, values) { /* wide enough for the longest tick label (px) */
    var longest = (values || []).reduce(function (n, v) { return Math.max(n, String(v).length); }, 0);
    return Math.max(50, 8 * longest + 16);
  }

  /* Charts draw UTC, as the captions and tables do, in 24-hour time. uPlot's table of time-axis formats:
     [from this tick spacing (s), tick format, then the format on a new year, month, day, hour, minute,
     second, 1: appended to the tick format]. The first tick says the date and UTC. */
  var TIME_TICKS = [
    [86400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [86400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [86400, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD} UTC", null, "\n{MM}-{DD}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD} UTC", null, "\n{MM}-{DD}", null, null, null, 1],
    [1, ":{ss}", "\n{YYYY}-{MM}-{DD} {HH}:{mm} UTC", null, "\n{MM}-{DD} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1]
  ];

  function utcDate(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

  function plotWidth(plot) { return Math.max(160, plot.clientWidth); } /* the container's, not a fixed one */

  window.alertAnalyst = { compact: compact, timeTicks: TIME_TICKS }; /* for the browser tests */

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
        var opts = {
          width: plotWidth(plot),
          height: 200,
          tzDate: utcDate,
          legend: { show: true },
          scales: { x: { time: true, range: [Number(fig.getAttribute("data-start")), Number(fig.getAttribute("data-end"))] } },
          axes: [{ values: TIME_TICKS }, { size: axisSize, values: axisValues }],
          series: [
            { label: "time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" },
            { label: "value", stroke: "#1f5fbf", width: 1.5, spanGaps: false, value: function (u, v) { return compact(v); } }
          ],
          plugins: [markPlugin(marks)]
        };
        var chart = new uPlot(opts, [s.t, s.v], plot);
        plot.setAttribute("data-points", String(s.t.length));
        if (s.notes && s.notes.length) { /* values a chart cannot draw (NaN, +Inf): said, not dropped */
          var note = document.createElement("p");
          note.className = "small muted not-drawn";
          note.textContent = s.notes.join("; ");
          fig.appendChild(note);
        }
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
    var pending = null;
    window.addEventListener("resize", function () { /* charts follow their container's width */
      clearTimeout(pending);
      pending = setTimeout(function () {
        figs.forEach(function (fig) {
          var plot = fig.querySelector(".plot");
          if (fig.uplot && fig.uplot.width !== plotWidth(plot)) fig.uplot.setSize({ width: plotWidth(plot), height: 200 });
        });
      }, 100);
    });
    if (window.uPlot) { load(); return; }
    var script = document.createElement("script");
    script.src = UPLOT_SRC;
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

  /* A form that posts is sent once: a second click while the answer is on its way would cancel the first
     request's page and start the work again (a second backtest is refused while one runs, and the first
     one's result is lost). Its buttons are disabled after the browser has read the clicked one's value. */
  function sendOnce() {
    document.querySelectorAll("form").forEach(function (form) {
      if ((form.getAttribute("method") || "").toLowerCase() !== "post") return; /* not form.method: a field may be named so */
      form.addEventListener("submit", function (e) {
        if (e.defaultPrevented) return; /* a confirmation said no */
        if (form.getAttribute("data-sent")) { e.preventDefault(); return; }
        form.setAttribute("data-sent", "1");
        form.setAttribute("aria-busy", "true");
        var clicked = e.submitter;
        setTimeout(function () {
          form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = true; });
          if (clicked && clicked.tagName === "BUTTON") clicked.setAttribute("data-busy", "1");
        }, 0);
      });
    });
    window.addEventListener("pageshow", function (e) { /* back to this page from the browser's cache */
      if (!e.persisted) return;
      document.querySelectorAll("form[data-sent]").forEach(function (form) {
        form.removeAttribute("data-sent");
        form.removeAttribute("aria-busy");
        form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = false; b.removeAttribute("data-busy"); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { liveRows(); charts(); confirmations(); sendOnce(); });
})();
