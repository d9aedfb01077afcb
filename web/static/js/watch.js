// The broadcast page: the program's live playlist with hls.js (Safari plays it natively),
// retried until the broadcast starts, and the count of viewers.

const page = document.getElementById("watch");
const video = document.getElementById("program");
const state = document.getElementById("watch-state");
const viewers = document.getElementById("viewers");
const source = `/events/${page.dataset.event}/live/index.m3u8`;
const text = (key, values = {}) =>
  page.dataset[`text${key}`].replace(/%\((\w+)\)s/g, (_, name) => values[name] ?? "");

let hls = null;

async function started() {
  const response = await fetch(source, { method: "GET", cache: "no-store" });
  return response.ok;
}

async function play() {
  if (!(await started())) {
    state.textContent = text("Waiting");
    setTimeout(play, 3000);
    return;
  }
  if (window.Hls?.isSupported()) {
    // Start LIVE_SYNC_SEGMENTS segments from the live edge (streaming/media/broadcast.py).
    hls = new window.Hls({ liveSyncDurationCount: Number(page.dataset.liveSync) || 2 });
    hls.loadSource(source);
    hls.attachMedia(video);
  } else {
    video.src = source;
  }
  video.play().catch(() => {}); // muted autoplay; the viewer unmutes with the controls
}

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
  play();
  count();
});
