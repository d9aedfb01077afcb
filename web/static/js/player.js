// Lesson player: hls.js (native HLS only where the browser has ManagedMediaSource and no MSE
// path), custom controls for every screen (large in the 10-foot TV mode, driven by a remote's
// arrows, Enter and Space), resume from the saved position, and messages a person understands
// when the network or the playlist fails. Nothing but playlists and the poster loads before play.
import { api } from "/static/js/api.js";
import { confirmDelete, showError } from "/static/js/confirm.js";

// A conservative bandwidth guess until hls.js has measured a fragment: it picks the start rung,
// so a weak village link starts low instead of on the top rung.
const DEFAULT_ESTIMATE_BPS = 500_000;
const HIDE_AFTER_MS = 3500; // the overlaid controls hide after this long without input
const SEEK_STEP_S = 10;
const SPEEDS = [1, 1.25, 1.5, 2, 0.75];
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;
const TV_KEY = "yuanjiao.tv";
const BEAT_MS = 10_000; // study beats while playing (see reportStudy)
const TV_SCREEN = "(min-width: 1600px)";
// What a server that answered wrongly looks like (a retry by itself will not help).
const BROKEN_DETAILS = new Set([
  "manifestParsingError", "levelParsingError", "levelEmptyError", "manifestIncompatibleCodecsError",
]);

const box = document.getElementById("player");
if (box) start(box);
watchProcessing();
wireAttachments();
wireEditing();
wireRetry();
wireDelete();

function start(box) {
  const video = document.getElementById("video");
  const el = (id) => document.getElementById(id);
  const [play, back, forward, seek, time, quality, speed, captions, fullscreen, tv] =
    ["play", "back", "forward", "seek", "time", "quality", "speed", "captions", "fullscreen", "tv-mode"].map(el);
  const note = el("player-note");
  const errorBox = el("player-error");
  const retryButton = el("player-retry");
  const label = box.dataset;
  const src = box.dataset.src;
  const bufferSeconds = parseInt(box.dataset.buffer || "30", 10);
  const player = { video, hls: null };
  window.yuanjiaoPlayer = player;

  let startAt = parseFloat(box.dataset.resume || "0"); // where loading starts at the first play
  let duration = parseFloat(box.dataset.duration || "0");
  let wantPlay = false; // the viewer pressed play once: from then on, load and keep loading
  let qualityChoice = -1;
  let speedIndex = 0;
  let retryDelay = RETRY_FIRST_MS;
  let retryTimer = null;
  let mediaErrors = 0;
  let hideTimer = null;
  let parsed = false; // the current hls.js instance has read the master playlist
  let begun = false; // ... and was told to load media

  setTvMode(chooseTvMode());
  // Until the viewer chooses, the mode follows the screen (a window resized, a phone turned).
  window.matchMedia(TV_SCREEN).addEventListener("change", (event) => {
    if (!chosenTvMode()) setTvMode(event.matches);
  });
  tv.addEventListener("click", () => {
    const on = !box.classList.contains("tv");
    setTvMode(on);
    remember(TV_KEY, on ? "1" : "0");
  });

  if (window.Hls && window.Hls.isSupported()) {
    player.hls = createHls();
  } else if ("ManagedMediaSource" in window && video.canPlayType("application/vnd.apple.mpegurl")) {
    quality.hidden = true;
    video.src = src; // preload="none": nothing is fetched before play
    video.addEventListener("loadedmetadata", () => { if (startAt > 0) video.currentTime = startAt; }, { once: true });
  } else {
    fail(label.labelUnsupported, false);
    return;
  }

  video.addEventListener("play", () => {
    wantPlay = true;
    if (player.hls && !begun) beginLoading(player.hls);
  });
  play.addEventListener("click", togglePlay);
  back.addEventListener("click", () => seekBy(-SEEK_STEP_S));
  forward.addEventListener("click", () => seekBy(SEEK_STEP_S));
  seek.addEventListener("input", () => seekTo(parseFloat(seek.value)));
  quality.addEventListener("click", nextQuality);
  speed.addEventListener("click", () => {
    speedIndex = (speedIndex + 1) % SPEEDS.length;
    video.playbackRate = SPEEDS[speedIndex];
    video.defaultPlaybackRate = SPEEDS[speedIndex]; // kept when a retry reloads the source
    speed.textContent = speed.dataset.format.replace("{}", `${SPEEDS[speedIndex]}×`);
  });
  captions.addEventListener("click", toggleCaptions);
  video.textTracks.addEventListener("addtrack", showCaptionsButton);
  video.textTracks.addEventListener("removetrack", showCaptionsButton);
  showCaptionsButton();
  fullscreen.addEventListener("click", toggleFullscreen);
  document.addEventListener("fullscreenchange", () => {
    const on = document.fullscreenElement === box;
    box.classList.toggle("fullscreen", on);
    fullscreen.textContent = on ? label.labelExitFullscreen : label.labelFullscreen;
  });
  retryButton.addEventListener("click", () => {
    if (document.activeElement === retryButton) video.focus(); // not lost when the box hides
    errorBox.hidden = true;
    mediaErrors = 0;
    if (video.currentTime > 0) startAt = video.currentTime;
    if (player.hls) player.hls.destroy();
    player.hls = createHls();
    if (wantPlay) video.play().catch(() => {});
  });
  window.addEventListener("online", () => { if (retryTimer !== null) retryNow(); });

  for (const name of ["play", "pause", "ended"]) video.addEventListener(name, showPlaying);
  video.addEventListener("timeupdate", () => showTime());
  video.addEventListener("durationchange", () => {
    if (Number.isFinite(video.duration) && video.duration > 0) duration = video.duration;
    seek.max = String(duration);
    showTime();
  });
  video.addEventListener("playing", () => hideNote());
  video.addEventListener("ended", () => { // a remote on the player is offered the next lesson
    wake();
    const next = el("next");
    if (next && box.contains(document.activeElement)) next.focus();
  });
  video.addEventListener("click", togglePlay);
  showTime();
  wireKeys();
  if (box.classList.contains("tv")) {
    // The remote starts on play, with the whole picture on the screen (it is sized to fit).
    play.focus({ preventScroll: true });
    box.scrollIntoView({ block: "end" });
  }
  if (box.dataset.save === "yes") {
    rememberPosition(video, box.dataset.lesson);
    reportStudy(video, box.dataset.lesson, (message) => showNote(message), label.labelStudyMoved);
  }

  function createHls() {
    const Hls = window.Hls;
    const hls = new Hls({
      autoStartLoad: false, // the master playlist loads (for the quality menu), no media yet
      startLevel: -1, // chosen by the bandwidth estimate, not the first rung listed
      testBandwidth: false, // no probe fragment: the conservative default estimate decides
      abrEwmaDefaultEstimate: DEFAULT_ESTIMATE_BPS,
      capLevelToPlayerSize: true,
      maxBufferLength: bufferSeconds,
      maxMaxBufferLength: bufferSeconds,
    });
    parsed = false;
    begun = false;
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      parsed = true;
      fillQuality(data.levels);
      if (wantPlay) beginLoading(hls);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, showQuality);
    hls.on(Hls.Events.FRAG_LOADED, () => { retryDelay = RETRY_FIRST_MS; hideNote(); });
    hls.on(Hls.Events.ERROR, (_event, data) => handleError(hls, data));
    hls.loadSource(src);
    hls.attachMedia(video);
    return hls;
  }

  function beginLoading(hls) {
    if (!parsed) return; // MANIFEST_PARSED starts it
    begun = true;
    hls.startLoad(startAt > 0 ? startAt : -1);
  }

  function handleError(hls, data) {
    // The raw details are for developers only; the viewer reads a sentence.
    const code = data.response ? data.response.code : 0;
    console.warn("hls.js error", data.type, data.details, data.fatal ? "fatal" : "recoverable", code || "");
    if (hls !== player.hls) return;
    const Hls = window.Hls;
    const answeredWrongly = BROKEN_DETAILS.has(data.details) || (code >= 400 && code < 500 && !begun);
    if (answeredWrongly && (data.fatal || !parsed)) {
      hls.stopLoad();
      fail(label.labelBroken, true);
      return;
    }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      if (wantPlay || !parsed) showNote(label.labelOffline);
      if (data.fatal) scheduleRetry();
      return;
    }
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaErrors < 2) {
      mediaErrors += 1;
      if (mediaErrors === 2) hls.swapAudioCodec();
      hls.recoverMediaError();
      return;
    }
    fail(label.labelUndecodable, true);
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(retryNow, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function retryNow() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const hls = player.hls;
    if (!parsed) { // the master playlist never arrived: ask for it again
      hls.destroy();
      player.hls = createHls();
    } else if (wantPlay) {
      hls.startLoad(video.currentTime);
    }
  }

  function fail(message, canRetry) {
    hideNote();
    clearTimeout(retryTimer);
    retryTimer = null;
    el("player-error-text").textContent = message;
    retryButton.hidden = !canRetry;
    errorBox.hidden = false;
    wake();
    // A remote on the player lands on "retry" (the picture's place in the arrow keys' rows).
    if (canRetry && (box.classList.contains("tv") || box.contains(document.activeElement))) retryButton.focus();
  }

  function showNote(message) { note.textContent = message; note.hidden = false; }
  function hideNote() { note.hidden = true; }

  function togglePlay() {
    if (video.paused || video.ended) video.play().catch(() => {});
    else video.pause();
  }

  function seekTo(seconds) {
    const end = duration > 0 ? duration : seconds;
    const target = Math.max(0, Math.min(seconds, end));
    if (player.hls && !begun) startAt = target; // not loading yet: start there later
    else video.currentTime = target;
    showTime(target);
  }

  function seekBy(delta) {
    const now = player.hls && !begun ? startAt : video.currentTime;
    seekTo(now + delta);
    wake();
  }

  function fillQuality(levels) {
    // Auto first, then from the top rung down; hls.js keeps `levels` sorted by bitrate.
    player.qualities = [-1, ...levels.map((_level, index) => index).reverse()];
    quality.hidden = levels.length < 2;
    showQuality();
  }

  function nextQuality() {
    const choices = player.qualities || [-1];
    qualityChoice = choices[(choices.indexOf(qualityChoice) + 1) % choices.length];
    if (player.hls) player.hls.currentLevel = qualityChoice;
    showQuality();
  }

  function showQuality() {
    const hls = player.hls;
    const height = (index) => {
      const level = hls && hls.levels[index];
      return level ? (level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kbps`) : "";
    };
    let text = label.labelAuto;
    if (qualityChoice >= 0) text = height(qualityChoice);
    else if (hls && begun && hls.currentLevel >= 0) text = `${label.labelAuto} · ${height(hls.currentLevel)}`;
    quality.textContent = quality.dataset.format.replace("{}", text);
  }

  function showCaptionsButton() {
    captions.hidden = video.textTracks.length === 0;
    captions.setAttribute("aria-pressed", String([...video.textTracks].some((t) => t.mode === "showing")));
  }

  function toggleCaptions() {
    const tracks = [...video.textTracks].filter((t) => t.kind === "subtitles" || t.kind === "captions");
    const showing = tracks.some((t) => t.mode === "showing");
    const lang = document.documentElement.lang.slice(0, 2);
    const pick = tracks.find((t) => t.language.slice(0, 2) === lang) || tracks[0];
    for (const track of tracks) track.mode = !showing && track === pick ? "showing" : "disabled";
    showCaptionsButton();
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (box.requestFullscreen) box.requestFullscreen().catch(() => {});
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen(); // iPhone: the video only
  }

  function showPlaying() {
    const paused = video.paused || video.ended;
    play.querySelector(".icon").textContent = paused ? "▶\uFE0E" : "❚❚";
    play.querySelector(".label").textContent = paused ? label.labelPlay : label.labelPause;
    box.classList.toggle("playing", !paused);
    wake();
  }

  function showTime(at) {
    const now = at !== undefined ? at : (player.hls && !begun ? startAt : video.currentTime);
    time.textContent = `${clock(now)} / ${clock(duration)}`;
    if (document.activeElement !== seek) seek.value = String(now);
  }

  function chooseTvMode() {
    const asked = new URLSearchParams(window.location.search).get("tv");
    if (asked === "1" || asked === "0") { remember(TV_KEY, asked); return asked === "1"; }
    const chosen = chosenTvMode();
    return chosen ? chosen === "1" : window.matchMedia(TV_SCREEN).matches;
  }

  function chosenTvMode() {
    const kept = recall(TV_KEY);
    return kept === "1" || kept === "0" ? kept : null;
  }

  function setTvMode(on) {
    box.classList.toggle("tv", on);
    tv.setAttribute("aria-pressed", String(on));
    wake();
  }

  // --- hiding the overlaid controls, and the remote's keys -------------------------------------

  function wake() {
    box.classList.remove("idle");
    clearTimeout(hideTimer);
    if (!video.paused && !video.ended) hideTimer = setTimeout(() => box.classList.add("idle"), HIDE_AFTER_MS);
  }

  function wireKeys() {
    for (const name of ["pointermove", "pointerdown", "focusin"]) box.addEventListener(name, wake);
    box.addEventListener("keydown", (event) => {
      const wasHidden = box.classList.contains("idle") && isOverlaid();
      wake();
      const target = event.target;
      const activate = event.key === "Enter" || event.key === " ";
      if (target === video && activate) { event.preventDefault(); togglePlay(); return; }
      if (wasHidden) { event.preventDefault(); return; } // the first key only brings the controls back
      const buttons = [...box.querySelectorAll(".player-buttons button, .player-buttons a")].filter((b) => !b.hidden);
      const rows = [[errorBox.hidden || retryButton.hidden ? video : retryButton], [seek], buttons];
      const row = rows.findIndex((r) => r.includes(target));
      if (row < 0) return;
      const moves = { ArrowUp: -1, ArrowDown: 1 };
      if (event.key in moves) {
        const next = rows[row + moves[event.key]];
        if (next) { event.preventDefault(); next[0].focus(); }
        return;
      }
      const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
      if (!step) return;
      event.preventDefault();
      if (row < 2) { seekBy(step * SEEK_STEP_S); return; }
      const index = buttons.indexOf(target) + step;
      if (index >= 0 && index < buttons.length) buttons[index].focus();
    });
  }

  function isOverlaid() {
    return box.classList.contains("tv") || document.fullscreenElement === box;
  }
}

function clock(seconds) {
  const total = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function remember(key, value) {
  try { window.localStorage.setItem(key, value); } catch { /* private mode: this visit only */ }
}

function recall(key) {
  try { return window.localStorage.getItem(key); } catch { return null; }
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

// Study evidence for credits (学时): the server issues a playback session at the first play,
// and the player reports, every 10 s and at each pause, seek, rate change, end, hidden page or
// page exit, the media intervals actually played since its previous report (a seek starts a new
// interval, so skipped media is never reported), with its own clock, the position, rate and
// whether the page stayed visible. The server decides what that earns; the player only tells.
// Beats at a page's hiding and exit go by navigator.sendBeacon, which survives the page.
function reportStudy(video, lessonId, notify, movedMessage) {
  let study = null; // { id, issuedAt } once the server issued a session
  let asking = false;
  let stopped = false; // no member record, or the session ended (another tab took over)
  let seq = 0;
  let from = null; // media time where the interval being played began
  let lastTime = 0; // the playhead at the last timeupdate, before any jump
  let intervals = [];
  let sawHidden = document.visibilityState === "hidden";

  const playing = () => !video.paused && !video.ended && !video.seeking;
  const close = (at) => {
    if (from !== null && at > from) intervals.push([round(from), round(at)]);
    from = null;
  };
  const open = () => { if (from === null && playing()) from = lastTime = video.currentTime; };

  async function begin() {
    if (study || asking || stopped) return;
    asking = true;
    const startedAt = video.currentTime; // what plays while the server answers counts too
    try {
      const issued = await api("POST", "/api/study/sessions", { lesson_id: parseInt(lessonId, 10) });
      study = { id: issued.id, issuedAt: performance.now() };
      if (playing()) { from = Math.min(startedAt, video.currentTime); lastTime = video.currentTime; }
    } catch (error) {
      stopped = error.status === 403 || error.status === 401 || error.status === 404;
    } finally {
      asking = false;
    }
  }

  function send(event, { beacon = false } = {}) {
    if (!study || stopped) return;
    close(event === "seek" ? lastTime : video.currentTime);
    if (intervals.length === 0 && event === "tick") { open(); return; }
    seq += 1;
    const body = JSON.stringify({
      session_id: study.id,
      seq,
      clock: round((performance.now() - study.issuedAt) / 1000),
      position: round(video.currentTime || 0),
      rate: video.playbackRate,
      visible: !sawHidden && document.visibilityState === "visible",
      event,
      intervals,
    });
    intervals = [];
    sawHidden = document.visibilityState === "hidden";
    if (event !== "seek") open();
    // sendBeacon posts text/plain; the server reads the JSON in it all the same.
    if (beacon && navigator.sendBeacon && navigator.sendBeacon("/api/study/beats", body)) return;
    fetch("/api/study/beats", {
      method: "POST", body, keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
    }).then((response) => {
      if (response.status === 409) { stopped = true; notify(movedMessage); }
    }).catch(() => { /* lost: the next beats still count; this interval does not */ });
  }

  video.addEventListener("play", begin);
  video.addEventListener("playing", open);
  video.addEventListener("timeupdate", () => {
    if (video.seeking) return;
    const now = video.currentTime;
    // A jump the seeking events did not announce: close at the old place, start at the new.
    if (from !== null && (now < lastTime - 0.5 || now > lastTime + 3 * Math.max(1, video.playbackRate))) {
      close(lastTime);
      lastTime = now;
      open();
      return;
    }
    lastTime = now;
  });
  video.addEventListener("pause", () => send("pause"));
  video.addEventListener("seeking", () => send("seek"));
  video.addEventListener("seeked", () => { lastTime = video.currentTime; open(); });
  video.addEventListener("ratechange", () => send("ratechange"));
  video.addEventListener("ended", () => send("ended"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      send("hidden", { beacon: true });
      sawHidden = true;
    }
  });
  window.addEventListener("pagehide", () => send("close", { beacon: true }));
  setInterval(() => { if (playing() || intervals.length) send("tick"); }, BEAT_MS);
  window.yuanjiaoStudy = { state: () => ({ session: study && study.id, seq, stopped }) };
}

function round(seconds) {
  return Math.round(seconds * 1000) / 1000;
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
