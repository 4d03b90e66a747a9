package dev.dynalora.cli.report;

/**
 * The style sheet and the script of the report page. The script reads the embedded JSON (see
 * {@link ReportModel}) and draws every chart with ECharts into the containers {@link HtmlReport} writes.
 * Text from the runs (run and module names) reaches the page only through the JSON and ECharts' canvas, or
 * through {@code esc()} in tooltips, never as markup.
 */
final class ReportScript {
    private ReportScript() {
    }

    static final String CSS = """
            :root { color-scheme: light; }
            body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
                   margin: 0; background: #f4f5f7; color: #1f2328; font-size: 14px; }
            header { background: #1f2937; color: #fff; padding: 14px 28px; }
            header h1 { margin: 0; font-size: 20px; font-weight: 600; }
            header p { margin: 4px 0 0; color: #cbd5e1; font-size: 13px; overflow-wrap: anywhere; }
            main { max-width: 1560px; margin: 0 auto; padding: 8px 24px 40px; }
            h2 { font-size: 17px; margin: 22px 0 8px; }
            h3 { font-size: 14px; margin: 0 0 2px; }
            .card { background: #fff; border: 1px solid #dfe3e8; border-radius: 8px; padding: 12px 16px; margin: 12px 0; }
            .grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
            .grid2 > .card { margin: 0; }
            @media (max-width: 1000px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
            .caption { color: #59636e; font-size: 12px; margin: 0 0 6px; }
            .chart { width: 100%; height: 340px; box-sizing: border-box; }
            .chart.empty { height: auto; padding: 28px 8px; text-align: center; color: #6e7781;
                           background: #fafbfc; border: 1px dashed #d0d7de; border-radius: 6px; }
            .run-title { font-size: 15px; margin: 0 0 8px; overflow-wrap: anywhere; }
            section.card > h3:not(.run-title), section.card .grid2 h3 { margin-top: 16px; }
            .table-wrap { overflow-x: auto; }
            table { border-collapse: collapse; width: 100%; font-size: 13px; }
            th, td { border-bottom: 1px solid #eaeef2; padding: 6px 8px; text-align: left; vertical-align: top; }
            th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            td.metrics { font-variant-numeric: tabular-nums; white-space: nowrap; }
            td.run { overflow-wrap: anywhere; min-width: 120px; }
            .status-ok { color: #1a7f37; } .status-bad { color: #cf222e; } .status-open { color: #9a6700; }
            details { margin-top: 10px; } summary { cursor: pointer; color: #0969da; }
            pre { background: #f6f8fa; padding: 8px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
            footer { color: #6e7781; font-size: 12px; text-align: center; padding: 8px 0 24px; }
            """;

    static final String JS = """
            (function () {
              'use strict';
              var data = JSON.parse(document.getElementById('report-data').textContent);
              var runs = data.runs;
              var several = runs.length > 1;
              var charts = [];
              var PALETTE = ['#5470c6', '#ee6666', '#3ba272', '#fac858', '#9a60b4', '#73c0de', '#fc8452',
                             '#27727b', '#ea7ccc', '#91cc75', '#d48265', '#3d5a80'];
              var HEAT = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];

              function esc(s) {
                return String(s).replace(/[&<>"']/g, function (c) {
                  return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
                });
              }
              function fmt(v) {
                if (v === null || v === undefined || v === '-' || typeof v !== 'number' || isNaN(v)) { return '–'; }
                var a = Math.abs(v);
                if (a !== 0 && (a < 1e-3 || a >= 1e6)) { return v.toExponential(2); }
                if (Number.isInteger(v)) { return String(v); }
                return String(Number(v.toPrecision(4)));
              }
              function fmtAxis(v) {
                var t = fmt(v);
                return t.indexOf('e') > 0 ? t.replace(/\\.?0+e/, 'e') : t;
              }
              function ys(values) {
                return values.map(function (y) { return y === null || y === undefined ? '-' : y; });
              }
              function zip(xs, ys) {
                var out = [];
                for (var i = 0; i < xs.length; i++) {
                  var y = ys[i];
                  out.push([xs[i], y === null || y === undefined ? '-' : y]);
                }
                return out;
              }
              function diff(hi, lo) {
                return hi.map(function (h, i) { return h === null || lo[i] === null ? null : h - lo[i]; });
              }
              function placeholder(id, text) {
                var node = document.getElementById(id);
                if (node) { node.classList.add('empty'); node.style.height = ''; node.textContent = text; }
              }
              function draw(id, option) {
                var node = document.getElementById(id);
                if (!node) { return; }
                var chart = echarts.init(node, null, {renderer: 'canvas'});
                chart.setOption(option);
                charts.push(chart);
              }
              window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });

              function axis(name, extra) {
                return Object.assign({type: 'value', name: name, nameLocation: 'middle', nameGap: 52, scale: true,
                  nameTextStyle: {color: '#444'}, axisLabel: {formatter: fmtAxis}}, extra || {});
              }
              function stepAxis(name) {
                return axis(name || 'step', {scale: false, min: 0, max: 'dataMax', nameGap: 26, minInterval: 1});
              }
              function lineChart(xAxis, yName, series, extra) {
                return Object.assign({
                  animation: false,
                  color: PALETTE,
                  tooltip: {trigger: 'axis', confine: true, valueFormatter: fmt},
                  legend: {type: 'scroll', top: 0, left: 8, right: 8},
                  grid: {left: 76, right: 28, top: 44, bottom: 74},
                  xAxis: xAxis,
                  yAxis: axis(yName),
                  dataZoom: [{type: 'inside', xAxisIndex: 0}, {type: 'slider', xAxisIndex: 0, height: 14, bottom: 6}],
                  series: series
                }, extra || {});
              }
              function runColor(i) { return PALETTE[i % PALETTE.length]; }
              var SYMBOLS = ['circle', 'rect', 'triangle', 'diamond', 'pin', 'arrow'];
              var DASHES = ['solid', 'dashed', 'dotted'];
              function line(name, data, extra) {
                return Object.assign({name: name, type: 'line', data: data, showSymbol: data.length <= 40,
                  symbolSize: 5, emphasis: {focus: 'series'}}, extra || {});
              }

              // Training loss and learning rate over steps, one series per run.
              ['loss', 'lr'].forEach(function (key) {
                var series = [];
                runs.forEach(function (r, i) {
                  if (r.train.step.length > 0) {
                    series.push(line(r.label, zip(r.train.step, r.train[key]), {sampling: 'lttb', color: runColor(i)}));
                  }
                });
                var id = key === 'loss' ? 'chart-loss' : 'chart-lr';
                if (series.length === 0) {
                  placeholder(id, 'No training steps logged yet.');
                } else {
                  draw(id, lineChart(stepAxis(), key === 'loss' ? 'training loss' : 'learning rate', series));
                }
              });

              // Dev metrics per epoch: one series per run and metric (with several runs: the run's colour, a
              // symbol and dash per metric).
              (function () {
                var series = [];
                var lo = Infinity;
                var hi = -Infinity;
                runs.forEach(function (r, i) {
                  var names = [];
                  r.eval.forEach(function (e) {
                    lo = Math.min(lo, e.epoch);
                    hi = Math.max(hi, e.epoch);
                    Object.keys(e.metrics).forEach(function (k) { if (names.indexOf(k) < 0) { names.push(k); } });
                  });
                  names.forEach(function (k, j) {
                    var style = several ? {color: runColor(i), symbol: SYMBOLS[j % SYMBOLS.length],
                      lineStyle: {type: DASHES[j % DASHES.length]}} : {};
                    series.push(line(several ? r.label + ' · ' + k : k, r.eval.map(function (e) {
                      var v = e.metrics[k];
                      return [e.epoch, v === null || v === undefined ? '-' : v];
                    }), Object.assign({showSymbol: true, symbolSize: 8}, style)));
                  });
                });
                if (series.length === 0) {
                  placeholder('chart-dev', 'No evaluation recorded yet (dev metrics are written after each epoch).');
                  return;
                }
                draw('chart-dev', lineChart(axis('epoch', {scale: false, min: lo - 0.5, max: hi + 0.5, nameGap: 26,
                  minInterval: 1, axisLabel: {showMinLabel: false, showMaxLabel: false, formatter: fmtAxis}}),
                  'dev metric', series, {dataZoom: [], grid: {left: 76, right: 28, top: 44, bottom: 48}}));
              })();

              // AdaLoRA and Dynamic LoRA: importance, ranks, rank per layer, gate spread.
              runs.forEach(function (r, i) {
                var a = r.allocation;
                if (!a) { return; }
                var steps = a.step;
                var mods = a.modules;

                // Importance heatmap (module x step), colour on a log scale.
                var hid = 'chart-importance-' + i;
                if (!a.importance) {
                  placeholder(hid, r.method === 'adalora'
                    ? 'AdaLoRA\\'s allocation.jsonl records ranks only: no importance to show.'
                    : 'No importance in allocation.jsonl (trained with --no-importance).');
                } else {
                  var cells = [];
                  var lo = Infinity;
                  var hi = -Infinity;
                  a.importance.forEach(function (row, m) {
                    row.forEach(function (v, s) {
                      if (v !== null && v > 0) {
                        var l = Math.log10(v);
                        lo = Math.min(lo, l);
                        hi = Math.max(hi, l);
                        cells.push([s, m, l, v]);
                      }
                    });
                  });
                  if (cells.length === 0) {
                    placeholder(hid, 'Importance is zero at every logged step.');
                  } else {
                    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
                    document.getElementById(hid).style.height = Math.max(240, 20 * mods.length + 120) + 'px';
                    draw(hid, {
                      animation: false,
                      tooltip: {confine: true, formatter: function (p) {
                        return esc(mods[p.value[1]].name) + '<br>step ' + steps[p.value[0]] + ': importance '
                          + Number(p.value[3]).toExponential(3);
                      }},
                      grid: {left: 96, right: 28, top: 8, bottom: 84},
                      xAxis: {type: 'category', data: steps.map(String), name: 'step', nameLocation: 'middle',
                              nameGap: 26, nameTextStyle: {color: '#444'}},
                      yAxis: {type: 'category', data: mods.map(function (m) { return m.label; }), inverse: true},
                      visualMap: {type: 'continuous', dimension: 2, min: lo, max: hi, calculable: true,
                                  orient: 'horizontal', left: 'center', bottom: 0, itemWidth: 12, itemHeight: 260,
                                  text: ['high', 'importance (log scale): low'], inRange: {color: HEAT},
                                  formatter: function (v) { return Math.pow(10, v).toExponential(1); }},
                      series: [{type: 'heatmap', data: cells, progressive: 0, emphasis: {itemStyle: {borderColor: '#000', borderWidth: 1}}}]
                    });
                  }
                }

                // Rank of each module over time.
                var many = mods.length > 16;
                draw('chart-rank-' + i, lineChart(stepAxis(), 'rank', mods.map(function (m, k) {
                  return line(m.label, zip(steps, a.rank[k]), {step: 'end', showSymbol: false});
                }), {tooltip: {trigger: many ? 'item' : 'axis', confine: true, valueFormatter: fmt}}));

                // Total rank per transformer layer, and over all modules (right axis).
                var layerSeries = a.layers.map(function (l) {
                  return line(l.layer === 'other' ? 'other modules' : 'layer ' + l.layer, zip(steps, l.rank),
                    {step: 'end', showSymbol: false});
                });
                layerSeries.push(line('all modules (right axis)', zip(steps, a.total_rank), {step: 'end',
                  showSymbol: false, yAxisIndex: 1, color: '#444', lineStyle: {type: 'dashed', width: 1.5}}));
                draw('chart-layer-' + i, lineChart(stepAxis(), 'rank per layer', layerSeries, {
                  grid: {left: 76, right: 70, top: 44, bottom: 74},
                  yAxis: [axis('rank per layer'), axis('total rank', {position: 'right', splitLine: {show: false}})]
                }));

                // Total rank per module kind (query, value, ffn.in, ...), labelled with its first and last value.
                draw('chart-kind-' + i, lineChart(stepAxis(), 'rank per module kind', a.kinds.map(function (k) {
                  var known = k.rank.filter(function (v) { return v !== null; });
                  var label = k.kind + (known.length ? ' (' + known[0] + ' \u2192 ' + known[known.length - 1] + ')' : '');
                  return line(label, zip(steps, k.rank), {step: 'end', showSymbol: false});
                }), {grid: {left: 76, right: 30, top: 44, bottom: 74}}));

                // Gate values: mean with a ±1 std band and a min–max band, over all modules; per module on demand.
                var gid = 'chart-gate-' + i;
                if (!a.gate) {
                  placeholder(gid, r.method === 'adalora' ? 'AdaLoRA has no input gate.'
                    : 'No gate statistics in allocation.jsonl (trained with --no-gate).');
                  return;
                }
                var g = a.gate_all;
                var series = [];
                var legend = [];
                var selected = {};
                // A band is a transparent lower line with the (upper - lower) difference stacked on it, filled;
                // stacking goes by index, hence a category axis of the logged steps.
                function band(name, lower, upper, color, opacity, stack) {
                  series.push({name: name, type: 'line', stack: stack, data: ys(lower), symbol: 'none',
                    lineStyle: {opacity: 0}, color: color, silent: true});
                  series.push({name: name, type: 'line', stack: stack, data: ys(diff(upper, lower)),
                    symbol: 'none', lineStyle: {opacity: 0}, color: color, silent: true,
                    areaStyle: {color: color, opacity: opacity}});
                }
                var base = '#5470c6';
                var sdLo = g.mean.map(function (m, k) { return m === null ? null : m - g.std[k]; });
                var sdHi = g.mean.map(function (m, k) { return m === null ? null : m + g.std[k]; });
                band('all modules: min–max', g.min, g.max, base, 0.13, 'all-mm');
                band('all modules: ±1 std', sdLo, sdHi, base, 0.3, 'all-sd');
                series.push(line('all modules: mean', ys(g.mean), {id: 'mean-all', color: base, lineStyle: {width: 2}}));
                legend.push({name: 'all modules: mean'});
                legend.push({name: 'all modules: ±1 std', icon: 'rect', itemStyle: {color: base, opacity: 0.45}});
                legend.push({name: 'all modules: min–max', icon: 'rect', itemStyle: {color: base, opacity: 0.2}});
                mods.forEach(function (m, k) {
                  var color = PALETTE[(k + 1) % PALETTE.length];
                  band(m.label, a.gate.min[k], a.gate.max[k], color, 0.12, 'mm-' + k);
                  series.push(line(m.label, ys(a.gate.mean[k]), {id: 'mean-' + k, color: color}));
                  legend.push({name: m.label});
                  selected[m.label] = false;
                });
                draw(gid, lineChart({type: 'category', data: steps.map(String), boundaryGap: false, name: 'step',
                    nameLocation: 'middle', nameGap: 26, nameTextStyle: {color: '#444'}}, 'gate value', series, {
                  legend: {type: 'scroll', top: 0, left: 8, right: 8, data: legend, selected: selected},
                  tooltip: {trigger: 'axis', confine: true, formatter: function (ps) {
                    if (!ps.length) { return ''; }
                    var k = ps[0].dataIndex;
                    var out = ['step ' + steps[k], 'all modules: mean ' + fmt(g.mean[k]) + ' ± ' + fmt(g.std[k])
                      + ', min ' + fmt(g.min[k]) + ', max ' + fmt(g.max[k])];
                    ps.forEach(function (p) {
                      if (typeof p.seriesId === 'string' && p.seriesId.indexOf('mean-') === 0 && p.seriesId !== 'mean-all') {
                        var m = Number(p.seriesId.slice(5));
                        out.push(p.marker + esc(mods[m].label) + ': mean ' + fmt(a.gate.mean[m][k]) + ' ± '
                          + fmt(a.gate.std[m][k]) + ', min ' + fmt(a.gate.min[m][k]) + ', max ' + fmt(a.gate.max[m][k]));
                      }
                    });
                    return out.join('<br>');
                  }}
                }));
              });
            })();
            """;
}
