/* The 看板: draws the board's charts from its data (the page's json_script block "board-data")
   with ECharts (static/vendor/echarts), and fetches the data again every data-refresh-s seconds
   from the board's JSON endpoint. No inline scripts or styles: the CSP allows only 'self'. */
(function () {
  "use strict";

  var root = document.getElementById("board");
  var source = document.getElementById("board-data");
  if (!root || !source || typeof echarts === "undefined") { return; }

  var PALETTE = ["#0b6e4f", "#2f80ed", "#f2994a", "#9b51e0", "#eb5757", "#27ae60", "#56ccf2", "#bdbdbd"];
  var charts = {};
  var measure = "tce";

  // The page's own words, translated by the template (data-text-*); Chinese when absent.
  function phrase(name, fallback) { return root.getAttribute("data-text-" + name) || fallback; }

  function number(value, digits) {
    if (value === null || value === undefined) { return "—"; }
    return Number(value).toLocaleString("zh-CN", {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    });
  }

  // Axis ticks: as many decimals as the scale needs (0.05 tce, 120 tce, 12,000 kWh).
  function tick(value) {
    var size = Math.abs(value);
    var digits = size === 0 || size >= 100 ? 0 : size >= 1 ? 1 : size >= 0.01 ? 3 : 4;
    return Number(value).toLocaleString("zh-CN", { maximumFractionDigits: digits });
  }

  function percent(fraction) {
    if (fraction === null || fraction === undefined) { return "—"; }
    return (fraction * 100).toFixed(1) + "%";
  }

  function chart(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    if (!charts[id]) {
      charts[id] = echarts.init(el, null, { renderer: "canvas", locale: "ZH" });
    }
    return charts[id];
  }

  // What an empty chart says instead of drawing an empty frame.
  function emptyTitle(isEmpty) {
    return {
      show: isEmpty, text: phrase("empty", "暂无数据"), left: "center", top: "middle",
      textStyle: { color: "#616e7c", fontSize: 14, fontWeight: "normal" }
    };
  }

  // The tooltip is drawn inside the canvas (richText), not as HTML with inline styles.
  function tooltip(extra) {
    var base = { renderMode: "richText", confine: true };
    for (var key in extra) { base[key] = extra[key]; }
    return base;
  }

  function drawStructure(data) {
    var c = chart("chart-structure");
    if (!c) { return; }
    var lines = (data.structure || []).filter(function (line) { return line.tce > 0; });
    c.setOption({
      title: emptyTitle(!lines.length),
      color: PALETTE,
      tooltip: tooltip({
        trigger: "item",
        formatter: function (p) {
          return p.name + "\n" + number(p.value, 3) + " tce（" + p.percent.toFixed(1) + "%）";
        }
      }),
      legend: { bottom: 0, type: "scroll", show: lines.length > 0 },
      series: [{
        name: phrase("structure", "能源消费结构"),
        type: "pie",
        radius: ["45%", "70%"],
        center: ["50%", "45%"],
        avoidLabelOverlap: true,
        label: { formatter: function (p) { return p.name + "\n" + p.percent.toFixed(1) + "%"; } },
        data: lines.map(function (line) {
          return { name: line.label, value: line.tce, quantity: line.quantity, unit: line.unit };
        })
      }]
    }, true);
  }

  function drawTrend(data) {
    var c = chart("chart-trend");
    if (!c) { return; }
    var trend = data.trend;
    var series;
    var unit = "tce";
    var digits = 3;
    if (measure === "tce") {
      series = trend.series.map(function (s) {
        return { name: s.label, type: "bar", stack: "tce", data: s.tce, barMaxWidth: 24 };
      });
    } else {
      var chosen = trend.series.filter(function (s) { return s.energy_type === measure; })[0];
      if (!chosen) { measure = "tce"; return drawTrend(data); }
      unit = chosen.unit;
      digits = 1;
      series = [{ name: chosen.label, type: trend.interval === "15min" ? "line" : "bar", data: chosen.quantity,
                  smooth: true, showSymbol: false, areaStyle: { opacity: 0.15 }, barMaxWidth: 24 }];
    }
    c.setOption({
      title: emptyTitle(!trend.series.length),
      color: PALETTE,
      tooltip: tooltip({
        trigger: "axis",
        valueFormatter: function (v) { return number(v, digits) + " " + unit; }
      }),
      legend: { top: 0, type: "scroll" },
      grid: { left: 64, right: 16, top: 36, bottom: 32 },
      xAxis: { type: "category", data: trend.labels, axisTick: { alignWithLabel: true } },
      yAxis: { type: "value", name: unit, nameTextStyle: { align: "right" },
               axisLabel: { formatter: tick } },
      series: series
    }, true);
  }

  function drawCompare(data) {
    var c = chart("chart-compare");
    if (!c) { return; }
    var cmp = data.comparison;
    var lines = cmp.by_energy_type || [];
    c.setOption({
      title: emptyTitle(!lines.length),
      color: ["#0b6e4f", "#9fb3c8"],
      tooltip: tooltip({
        trigger: "axis",
        valueFormatter: function (v) { return number(v, 3) + " tce"; }
      }),
      legend: { top: 0 },
      grid: { left: 64, right: 16, top: 36, bottom: 32 },
      xAxis: { type: "category", data: lines.map(function (l) { return l.label; }) },
      yAxis: { type: "value", name: "tce", axisLabel: { formatter: tick } },
      series: [
        { name: cmp.a.period.label, type: "bar", data: lines.map(function (l) { return l.a_tce; }), barMaxWidth: 32 },
        { name: cmp.b.period.label, type: "bar", data: lines.map(function (l) { return l.b_tce; }), barMaxWidth: 32 }
      ]
    }, true);
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function updateFigures(data) {
    var month = data.month || {};
    setText("kpi-tce", number(month.total_tce, 3));
    setText("kpi-co2", number(month.co2_t, 3));
    ["1", "2", "3"].forEach(function (level) {
      setText("kpi-access-" + level, percent((month.access_rate || {})[level]));
    });
    setText("kpi-completeness", percent(month.completeness));
    if (data.alarms) { setText("kpi-alarms", String(data.alarms.count)); }
  }

  var LEVEL_NAMES = {
    1: phrase("level-1", "一级"), 2: phrase("level-2", "二级"), 3: phrase("level-3", "三级")
  };

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function localTime(iso) {
    // "2026-12-01T18:15:00+08:00" → "2026-12-01 18:15" (the data are already in +08:00).
    return iso ? iso.slice(0, 10) + " " + iso.slice(11, 16) : "—";
  }

  // The meter tree, from the data (text only: names are never parsed as HTML).
  function drawMeters(data) {
    var table = document.getElementById("meter-tree");
    if (!table) { return; }
    var body = table.tBodies[0];
    var level = (document.getElementById("meter-level") || {}).value || "";
    var status = (document.getElementById("meter-status") || {}).value || "";
    var urlTemplate = table.getAttribute("data-meter-url");
    var rows = (data.meters && data.meters.tree) || [];
    var shown = 0;
    var fragment = document.createDocumentFragment();
    rows.forEach(function (m) {
      if ((level && String(m.level) !== level) || (status && m.status !== status)) { return; }
      shown += 1;
      var tr = document.createElement("tr");
      tr.className = "meter-" + m.status;
      var name = cell(tr, "", "depth-" + m.depth);
      var link = document.createElement("a");
      link.href = urlTemplate.replace("/0/", "/" + m.id + "/");
      link.textContent = m.code;
      name.appendChild(link);
      name.appendChild(document.createTextNode(" " + m.name));
      if (m.enterprise_name) {
        var owner = document.createElement("span");
        owner.className = "muted";
        owner.textContent = " · " + m.enterprise_name;
        name.appendChild(owner);
      }
      cell(tr, LEVEL_NAMES[m.level] || String(m.level));
      cell(tr, m.energy_label);
      var badge = document.createElement("span");
      badge.className = "badge badge-" + m.status;
      badge.textContent = m.status_label;
      cell(tr, "").appendChild(badge);
      cell(tr, localTime(m.last_reading_at), "nowrap");
      cell(tr, m.today_quantity === null ? "—" : number(m.today_quantity, 1) + " " + m.unit, "num");
      cell(tr, m.today_expected ? percent(m.today_received / m.today_expected) : "—", "num");
      fragment.appendChild(tr);
    });
    body.replaceChildren(fragment);
    setText("meter-shown", phrase("shown", "显示 {shown} / {total} 块")
      .replace("{shown}", String(shown)).replace("{total}", String(rows.length)));
  }

  function draw(data) {
    drawStructure(data);
    drawTrend(data);
    drawCompare(data);
    drawMeters(data);
  }

  var current = JSON.parse(source.textContent);
  draw(current);

  var select = document.getElementById("trend-measure");
  if (select) {
    select.addEventListener("change", function () { measure = select.value; drawTrend(current); });
  }

  ["meter-level", "meter-status"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) { el.addEventListener("change", function () { drawMeters(current); }); }
  });

  // The chosen-ranges fields only matter for a custom comparison.
  var compare = document.getElementById("id_compare");
  function toggleRanges() {
    var custom = compare && compare.value === "custom";
    Array.prototype.forEach.call(document.querySelectorAll(".custom-range"), function (el) {
      el.hidden = !custom;
    });
  }
  if (compare) { compare.addEventListener("change", toggleRanges); toggleRanges(); }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) { charts[id].resize(); });
  });

  var refreshS = parseInt(root.getAttribute("data-refresh-s"), 10);
  var url = root.getAttribute("data-url");
  if (refreshS > 0 && url && window.fetch) {
    window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          current = data;
          draw(current);
          updateFigures(current);
        })
        .catch(function () { /* keep the figures shown; the next round tries again */ });
    }, refreshS * 1000);
  }
}());
