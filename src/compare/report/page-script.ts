/**
 * The report page's own script (plain browser JavaScript, kept as text): it reads the embedded
 * data and draws each chart with Chart.js. `window.socklabCharts` lists the charts drawn, for the
 * browser test.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('socklab-data').textContent);
  var COLORS = { tcp: '#2a6fdb', udp: '#e8590c' };
  var VERDICT_COLORS = ['#6cc070', '#f2b705', '#8e44ad', '#17a2b8', '#555555', '#111111', '#e03131', '#bbbbbb'];
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 12;
  var drawn = [];
  function make(id, config) {
    var canvas = document.getElementById('chart-' + id);
    if (!canvas) return;
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    var chart = new Chart(canvas, config);
    drawn.push({ id: id, chart: chart });
  }
  var lanes = ['tcp', 'udp'].filter(function (t) { return data.lanes[t]; });
  var xy = function (points) { return points.map(function (p) { return { x: p[0], y: p[1] }; }); };

  // 1. Latency per message over time, with losses and late messages marked.
  var latencySets = [];
  var lastSent = 0;
  lanes.forEach(function (t) { data.lanes[t].latency.forEach(function (p) { if (p[0] > lastSent) lastSent = p[0]; }); });
  lanes.forEach(function (t) {
    var L = data.lanes[t];
    latencySets.push({ label: t.toUpperCase() + ' latency', data: xy(L.latency), borderColor: COLORS[t], backgroundColor: COLORS[t], showLine: false, pointRadius: 1.6, order: 3 });
    if (L.lost.length) latencySets.push({ label: t.toUpperCase() + ' lost', data: xy(L.lost), borderColor: '#e03131', backgroundColor: '#e03131', pointStyle: 'crossRot', pointRadius: 6, borderWidth: 2, showLine: false, order: 0 });
    if (L.late.length) latencySets.push({ label: t.toUpperCase() + ' late (held back)', data: xy(L.late), borderColor: '#f2b705', backgroundColor: '#f2b705', pointStyle: 'triangle', pointRadius: 3.5, showLine: false, order: 1 });
  });
  make('latency', { type: 'scatter', data: { datasets: latencySets }, options: {
    scales: { x: { min: 0, max: lastSent > 0 ? lastSent * 1.01 : undefined, title: { display: true, text: 'sent at (seconds from the start)' } }, y: { title: { display: true, text: 'latency (ms)' }, beginAtZero: true } } } });

  // A strip cell: a bar as wide as one cell of the plot (at least a pixel), so the strip is to scale.
  var stripCanvas = document.getElementById('chart-strip');
  var cellWidth = stripCanvas ? Math.max(1, Math.ceil((stripCanvas.parentNode.clientWidth - 60) / Math.max(1, data.messages / data.stripCellSize))) : 1;
  function cellStyle(color) {
    var c = document.createElement('canvas');
    c.width = cellWidth; c.height = 26;
    var g = c.getContext('2d'); g.fillStyle = color; g.fillRect(0, 0, c.width, c.height);
    return c;
  }
  // 2. The verdict strip: one row per lane, one cell per group of messages, coloured by the worst verdict.
  var stripSets = [];
  var seenVerdicts = {};
  lanes.forEach(function (t, row) {
    data.lanes[t].strip.forEach(function (group) {
      var first = !seenVerdicts[group.verdict];
      seenVerdicts[group.verdict] = true;
      stripSets.push({ label: data.verdictNames[group.verdict] + (first ? '' : ' (' + t.toUpperCase() + ')'),
        verdict: group.verdict,
        data: group.cells.map(function (c) { return { x: c, y: row }; }),
        backgroundColor: VERDICT_COLORS[group.verdict], borderColor: VERDICT_COLORS[group.verdict],
        pointStyle: cellStyle(VERDICT_COLORS[group.verdict]), showLine: false, order: 10 - group.verdict });
    });
  });
  make('strip', { type: 'scatter', data: { datasets: stripSets }, options: {
    plugins: { legend: { labels: { filter: function (item, chartData) { return item.text.indexOf(' (') < 0; } } } },
    scales: { x: { min: 0, max: data.messages, title: { display: true, text: 'message number (in the order sent)' } },
      y: { min: -0.6, max: lanes.length - 0.4, reverse: true, ticks: { stepSize: 1, callback: function (v) { return lanes[v] ? lanes[v].toUpperCase() : ''; } } } } } });

  // 3. Send order vs arrival order.
  make('order', { type: 'scatter', data: { datasets: lanes.map(function (t) {
      return { label: t.toUpperCase(), data: xy(data.lanes[t].order), borderColor: COLORS[t], backgroundColor: COLORS[t], pointRadius: 1.5 };
    }) }, options: { scales: { x: { title: { display: true, text: 'message number (in the order sent)' } }, y: { title: { display: true, text: 'places out of line' } } } } });

  // 4. Latency distribution.
  var bins = data.histogramBins;
  var labels = bins.slice(0, -1).map(function (b, i) { return ((b + bins[i + 1]) / 2).toFixed(1); });
  make('histogram', { type: 'bar', data: { labels: labels, datasets: lanes.map(function (t) {
      return { label: t.toUpperCase(), data: data.lanes[t].histogram, backgroundColor: COLORS[t] + 'b0', borderColor: COLORS[t], borderWidth: 1 };
    }) }, options: { scales: { x: { title: { display: true, text: 'latency (ms)' } }, y: { title: { display: true, text: 'messages' } } } } });

  // 5. Sweep curves.
  if (data.sweep) {
    var sets = Object.keys(data.sweep.series).map(function (name) {
      var pct = name.indexOf('%') >= 0;
      var color = name.indexOf('TCP') === 0 ? COLORS.tcp : COLORS.udp;
      return { label: name, data: data.sweep.series[name], yAxisID: pct ? 'pct' : 'ms', borderColor: color, backgroundColor: color,
        borderDash: pct ? [] : (name.indexOf('p50') >= 0 ? [2, 3] : [6, 4]), pointRadius: 4, tension: 0 };
    });
    make('sweep', { type: 'line', data: { labels: data.sweep.values, datasets: sets }, options: { scales: {
      x: { title: { display: true, text: '--' + data.sweep.fault } },
      ms: { position: 'left', beginAtZero: true, title: { display: true, text: 'latency (ms), dashed' } },
      pct: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: 'delivered (%), solid' } } } } });
  }
  window.socklabCharts = drawn.map(function (d) {
    return { id: d.id, series: d.chart.data.datasets.map(function (s) { return { label: s.label, points: s.data.length }; }) };
  });
})();
`;
