// The broadcast page: the program's live playlist with hls.js (Safari plays it natively),
// retried until the broadcast starts, and the count of viewers.

import { playLive } from "/static/js/program.js";

const page = document.getElementById("watch");
const video = document.getElementById("program");
const state = document.getElementById("watch-state");
const viewers = document.getElementById("viewers");
const source = `/events/${page.dataset.event}/live/index.m3u8`;
const text = (key, values = {}) =>
  page.dataset[`text${key}`].replace(/%\((\w+)\)s/g, (_, name) => values[name] ?? "");

async function count() {
  const response = await fetch(`/events/${page.dataset.event}/live/stats`, { cache: "no-store" });
  if (response.ok) {
    const stats = await response.json();
    viewers.textContent = text("Viewers", { count: stats.viewers });
    if (stats.status === "ended") state.textContent = text("Over");
  }
  setTimeout(count, 5000);
}

window.addEventListener("load", () => {
  playLive(video, source, {
    liveSync: Number(page.dataset.liveSync) || 2,
    waiting: () => {
      state.textContent = text("Waiting");
    },
  });
  count();
});
