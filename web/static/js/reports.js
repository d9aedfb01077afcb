// Charts of the report pages, drawn by ECharts (loaded by the page as the global `echarts`)
// from the JSON in the figure's data-chart: sites per duty and verdict (stacked bars) on the
// report cards, the participation rate of each organisation on the rankings. The table under
// the chart says the same, and is all a browser without JavaScript gets.
const VERDICT_COLOURS = { met: "#009e73", short: "#d55e00", pending: "#999999" };
const INK = "#1d1d1f";

const figure = document.getElementById("report-chart");
const area = document.getElementById("report-chart-area");
const status = document.getElementById("report-chart-status");

function dutiesOption(data) {
  return {
    aria: { enabled: true },
    legend: { top: 0, textStyle: { color: INK, fontSize: 13 } },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
    xAxis: { type: "category", data: data.categories, axisLabel: { color: INK, interval: 0, fontSize: 13 } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { color: INK, fontSize: 13 } },
    series: data.series.map((series) => ({
      name: series.name,
      type: "bar",
      stack: "sites",
      data: series.data,
      itemStyle: { color: VERDICT_COLOURS[series.key] },
      decal: series.key === "short" ? { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 4], rotation: 0.8 } : undefined,
    })),
  };
}

function ratesOption(data) {
  return {
    aria: { enabled: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 24, bottom: 8, top: 16, containLabel: true },
    xAxis: { type: "value", max: 100, axisLabel: { color: INK, formatter: "{value}%" } },
    yAxis: { type: "category", inverse: true, data: data.names, axisLabel: { color: INK, fontSize: 13 } },
    series: [{ name: data.label, type: "bar", data: data.rates, itemStyle: { color: "#0072b2" },
      label: { show: true, position: "right", color: INK, formatter: "{c}%" } }],
  };
}

function draw() {
  const data = JSON.parse(figure.dataset.chart);
  const empty = figure.dataset.kind === "rates" ? data.names.length === 0 : data.series.every((s) => s.data.every((n) => n === 0));
  if (empty) {
    status.textContent = "";
    return;
  }
  area.hidden = false;
  const chart = echarts.init(area, null, { renderer: "canvas" });
  chart.setOption(figure.dataset.kind === "rates" ? ratesOption(data) : dutiesOption(data));
  status.textContent = figure.dataset.title;
  figure.dataset.drawn = "true";
  window.addEventListener("resize", () => chart.resize());
}

if (figure) {
  try {
    if (typeof echarts === "undefined") throw new Error("echarts missing");
    draw();
  } catch (error) {
    area.hidden = true;
  }
}
