// Lesson player: hls.js (native HLS only where the browser has ManagedMediaSource and no MSE
// path), quality menu, speed control, and resume from the saved position.
import { api } from "/static/js/api.js";
import { confirmDelete, showError } from "/static/js/confirm.js";

const box = document.getElementById("player");
if (box) start(box);
watchProcessing();
wireAttachments();
wireEditing();
wireRetry();
wireDelete();

function start(box) {
  const video = document.getElementById("video");
  const quality = document.getElementById("quality");
  const speed = document.getElementById("speed");
  const errorBox = document.getElementById("player-error");
  const src = box.dataset.src;
  const resume = parseFloat(box.dataset.resume || "0");
  let hls = null;

  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls({ startPosition: resume > 0 ? resume : -1, capLevelToPlayerSize: true });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(window.Hls.Events.MANIFEST_PARSED, (_event, data) => {
      const highestFirst = data.levels.map((level, index) => ({ level, index }))
        .sort((a, b) => b.level.bitrate - a.level.bitrate);
      for (const { level, index } of highestFirst) {
        const option = document.createElement("option");
        option.value = String(index);
        option.textContent = level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kbps`;
        quality.append(option);
      }
    });
    hls.on(window.Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) showError(data.details);
    });
    quality.addEventListener("change", () => { hls.currentLevel = parseInt(quality.value, 10); });
  } else if ("ManagedMediaSource" in window && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    quality.closest("label").hidden = true;
    if (resume > 0) video.addEventListener("loadedmetadata", () => { video.currentTime = resume; }, { once: true });
  } else {
    showError(box.dataset.labelUnsupported);
    return;
  }
  speed.addEventListener("change", () => { video.playbackRate = parseFloat(speed.value); });
  if (box.dataset.save === "yes") rememberPosition(video, box.dataset.lesson);
  window.yuanjiaoPlayer = { video, hls };

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }
}

function rememberPosition(video, lessonId) {
  let last = -1;
  // While playing, a save every 5 s when the second changed; pausing, ending or leaving always
  // saves, so the server holds exactly where the viewer stopped.
  const save = ({ keepalive = false, always = false } = {}) => {
    const seconds = Math.floor(video.currentTime);
    if (Number.isNaN(seconds) || (seconds === last && !always)) return;
    last = seconds;
    api("PUT", `/api/lessons/${lessonId}/position`, { seconds }, { keepalive }).catch(() => { last = -1; });
  };
  setInterval(() => { if (!video.paused) save(); }, 5000);
  video.addEventListener("pause", () => save({ always: true }));
  video.addEventListener("ended", () => save({ always: true }));
  window.addEventListener("pagehide", () => save({ keepalive: true, always: true }));
}

function watchProcessing() {
  const status = document.getElementById("lesson-status");
  if (!status || status.querySelector(".error")) return;
  const bar = status.querySelector("progress");
  const timer = setInterval(async () => {
    const lesson = await api("GET", `/api/lessons/${status.dataset.lesson}`);
    if (bar) bar.value = lesson.progress;
    if (lesson.status !== "processing") { clearInterval(timer); window.location.reload(); }
  }, 2000);
}

function wireAttachments() {
  const form = document.getElementById("attach-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/api/lessons/${form.dataset.lesson}/attachments`, new FormData(form));
      window.location.reload();
    } catch (error) {
      showError(document.getElementById("attach-error"), error);
    }
  });
}

function wireEditing() {
  const form = document.getElementById("edit-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const hours = form.elements.credit_hours.value;
    const body = { title: form.elements.title.value, description: form.elements.description.value };
    if (hours !== "") body.credit_hours = parseFloat(hours);
    try {
      await api("PATCH", `/api/lessons/${form.dataset.lesson}`, body);
      window.location.reload();
    } catch (error) {
      showError(document.getElementById("edit-error"), error);
    }
  });
}

function wireRetry() {
  const button = document.getElementById("lesson-retry");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", `/api/lessons/${button.dataset.lesson}/retry`);
      window.location.reload();
    } catch (error) {
      button.disabled = false;
      showError(document.getElementById("retry-error"), error);
    }
  });
}

function wireDelete() {
  const button = document.getElementById("lesson-delete");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!(await confirmDelete(button.dataset.confirm))) { button.focus(); return; }
    try {
      await api("DELETE", `/api/lessons/${button.dataset.lesson}`);
      window.location.assign(`/courses/${button.dataset.course}`);
    } catch (error) {
      showError(document.getElementById("edit-error"), error);
    }
  });
}
