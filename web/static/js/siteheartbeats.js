// The site page's heartbeat chart: free disk space (GB) over the latest heartbeats, drawn with
// the vendored ECharts (the global `echarts`). The points come from the page itself
// (data-points); the table beside it holds the same figures for readers without the chart.
const figure = document.getElementById("beat-chart");
const plot = document.getElementById("beat-chart-plot");

if (figure && plot && window.echarts) {
  const points = JSON.parse(figure.dataset.points || "[]");
  const texts = JSON.parse(figure.dataset.texts || "{}");
  if (points.length < 2) {
    figure.hidden = true;
  } else {
    const chart = window.echarts.init(plot, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 24, bottom: 32 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "time" },
      yAxis: { type: "value", name: texts.disk, min: 0 },
      series: [
        {
          name: texts.disk,
          type: "line",
          showSymbol: false,
          color: "#0072b2",
          data: points,
        },
      ],
    });
    window.addEventListener("resize", () => chart.resize());
  }
}
