// A live program in a <video>: its playlist with hls.js (Safari plays HLS natively), tried again
// every few seconds until the broadcast has started.

export function playLive(video, source, { liveSync = 2, waiting = () => {} } = {}) {
  async function start() {
    const response = await fetch(source, { cache: "no-store" }).catch(() => null);
    if (!response?.ok) {
      waiting();
      setTimeout(start, 3000);
      return;
    }
    if (window.Hls?.isSupported()) {
      // Start liveSync segments from the live edge (streaming/media/broadcast.py).
      const hls = new window.Hls({ liveSyncDurationCount: liveSync });
      hls.loadSource(source);
      hls.attachMedia(video);
    } else {
      video.src = source;
    }
    video.play().catch(() => {}); // muted autoplay; the viewer unmutes with the controls
  }
  start();
}
