// The site map: ECharts (loaded by the page as the global `echarts`) draws the configured
// region's GeoJSON with every located site as a point, one series per state so the legend can
// show and hide each. The data is GET /api/sites/map with the page's filters, fetched again
// every minute so a dashboard left open (a TV in the office) stays current. Everything the chart
// shows is also in the page's table, which is all a browser without JavaScript gets.
import { api } from "/static/js/api.js";

const REFRESH_MS = 60_000;
// Okabe–Ito colours and a shape per state (sitemap.css uses the same for the swatches).
const LOOK = {
  online: { color: "#009e73", symbol: "circle" },
  offline: { color: "#d55e00", symbol: "triangle" },
  never: { color: "#e69f00", symbol: "diamond" },
  registered: { color: "#0072b2", symbol: "roundRect" },
  suspended: { color: "#4a4a4a", symbol: "rect" },
};
const STATES = Object.keys(LOOK);
const INK = "#1d1d1f";

const figure = document.getElementById("site-map");
const holder = document.getElementById("site-map-chart");
const status = document.getElementById("site-map-status");
const texts = JSON.parse(figure.dataset.texts);

function legendName(state) {
  return texts.states[state];
}

function stateOfName(name) {
  return STATES.find((state) => texts.states[state] === name);
}

function row(list, label, value) {
  const term = document.createElement("dt");
  term.textContent = label;
  const detail = document.createElement("dd");
  detail.textContent = value;
  list.append(term, detail);
}

function lastContact(site) {
  if (!site.last_seen_at) return texts.never;
  return new Date(site.last_seen_at).toLocaleString(document.documentElement.lang, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

// The tooltip is built as elements (no markup strings): site names are typed by people, and
// the policy allows no inline style attributes.
function tooltip(params) {
  const site = params.data && params.data.site;
  if (!site) return "";
  const box = document.createElement("div");
  box.className = "site-tip";
  const name = document.createElement("strong");
  name.textContent = site.name;
  const list = document.createElement("dl");
  row(list, texts.code, site.code);
  row(list, texts.tier, texts.tiers[site.tier] || site.tier);
  row(list, texts.org, site.org_name);
  row(list, texts.last_contact, lastContact(site));
  box.append(name, list);
  return box;
}

function series(data) {
  return STATES.map((state) => ({
    type: "scatter",
    id: state,
    name: legendName(state),
    coordinateSystem: "geo",
    symbol: LOOK[state].symbol,
    symbolSize: 12,
    // above 2,000 points of a state, drawn as one path (a province has tens of thousands)
    large: true,
    cursor: "pointer",
    tooltip: { show: true },
    itemStyle: { color: LOOK[state].color, borderColor: "#fff", borderWidth: 1 },
    emphasis: { scale: 1.6 },
    data: data.sites
      .filter((site) => site.state === state && site.located)
      .map((site) => ({ name: site.name, value: [site.longitude, site.latitude], site })),
  }));
}

function describe(data) {
  const located = data.sites.filter((site) => site.located).length;
  return texts.description.replace("{total}", data.total).replace("{located}", located);
}

function showCounts(data) {
  document.querySelectorAll(".site-summary [data-count]").forEach((cell) => {
    const key = cell.dataset.count;
    cell.textContent = key === "total" ? data.total : data.counts[key] ?? 0;
  });
}

// The view: the located sites with a margin around them (at least 3 degrees across), so a
// county's sites are not a single dot on the whole country; roam zooms out again.
function view(data) {
  const points = data.sites.filter((site) => site.located);
  if (!points.length) return null;
  const lons = points.map((site) => site.longitude);
  const lats = points.map((site) => site.latitude);
  const [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const padLon = Math.max((east - west) * 0.15, (3 - (east - west)) / 2, 0.3);
  const padLat = Math.max((north - south) * 0.15, (3 - (north - south)) / 2, 0.3);
  return [[west - padLon, north + padLat], [east + padLon, south - padLat]];
}

function draw(chart, data, { fit = false } = {}) {
  const bounds = fit ? view(data) : null;
  if (bounds) chart.setOption({ geo: { boundingCoords: bounds, center: null, zoom: 1 } });
  chart.setOption({
    aria: { enabled: true, label: { description: describe(data) } },
    series: series(data),
    legend: {
      formatter: (name) => `${name} ${data.counts[stateOfName(name)] ?? 0}`,
    },
  });
  status.textContent = describe(data);
  showCounts(data);
}

function setUp(geojson) {
  // the page's own text size (larger on wall screens, app.css)
  const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  echarts.registerMap(figure.dataset.region, geojson);
  holder.hidden = false;
  const chart = echarts.init(holder, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    textStyle: { fontFamily: getComputedStyle(document.documentElement).fontFamily },
    tooltip: {
      trigger: "item",
      formatter: tooltip,
      backgroundColor: "#fff",
      borderColor: "#8a8a8a",
      textStyle: { color: INK },
      confine: true,
    },
    legend: {
      top: 8,
      left: "center",
      data: STATES.map(legendName),
      textStyle: { color: INK, fontSize: Math.round(rootPx * 0.85) },
      inactiveColor: "#767676",
      backgroundColor: "rgba(255, 255, 255, 0.9)",
      borderRadius: 6,
      padding: [6, 10],
      itemGap: 14,
      itemWidth: Math.round(rootPx * 0.8),
      itemHeight: Math.round(rootPx * 0.8),
    },
    geo: {
      map: figure.dataset.region,
      roam: true,
      top: 48,
      bottom: 12,
      scaleLimit: { min: 0.8, max: 40 },
      itemStyle: { areaColor: "#eceae6", borderColor: "#8a8a8a", borderWidth: 0.6 },
      emphasis: { itemStyle: { areaColor: "#dedbd5" }, label: { show: true, color: INK } },
      label: { show: false },
    },
  });
  chart.on("click", (params) => {
    if (params.componentType === "series" && params.data && params.data.site) {
      window.location.assign(params.data.site.url);
    }
  });
  window.addEventListener("resize", () => {
    chart.dispatchAction({ type: "hideTip" });
    chart.resize();
  });
  return chart;
}

async function start() {
  if (typeof echarts === "undefined") throw new Error("ECharts did not load");
  const [geojson, data] = await Promise.all([
    fetch(figure.dataset.regionUrl, { credentials: "same-origin" }).then((response) => {
      if (!response.ok) throw new Error(response.statusText);
      return response.json();
    }),
    api("GET", figure.dataset.api),
  ]);
  const chart = setUp(geojson);
  draw(chart, data, { fit: true });
  figure.dataset.ready = "1";
  setInterval(async () => {
    try {
      draw(chart, await api("GET", figure.dataset.api));
    } catch (_) { /* keep what is shown; the next minute tries again */ }
  }, REFRESH_MS);
}

start().catch((error) => {
  holder.hidden = true;
  status.textContent = texts.failed;
  console.warn("site map:", error);
});
