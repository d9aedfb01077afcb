// The meeting room: publish one's camera and microphone, receive the room's slots and lanes,
// and keep both through a network blip. Messages are those of streaming/media/signalling.py;
// the meeting's own (lobby, roll, floor, chat) are shown by meeting.js.

import { refusal, showMeeting, wireMeeting } from "/static/js/meeting.js";

const room = document.getElementById("room");
const text = (key) => room.dataset[`text${key}`]; // data-text-no-camera is text("NoCamera")
const state = document.getElementById("room-state");
const tiles = document.getElementById("tiles");
const lanes = document.getElementById("lanes");
const preview = document.getElementById("preview");
const micButton = document.getElementById("toggle-mic");
const cameraButton = document.getElementById("toggle-camera");
const cameraChoice = document.getElementById("camera-choice");
const micChoice = document.getElementById("mic-choice");
const codecNote = document.getElementById("codec-note");

// Close codes of a refusal (streaming/congress/api.py): told, not retried.
const REFUSALS = { 4401: "LoggedOut", 4403: "Forbidden", 4410: "Over" };
const RETRY_MAX_MS = 10000;

let local = null; // MediaStream of this participant's camera and microphone
let socket = null;
let welcome = null;
let publishing = null;
let receiving = null;
let streams = new Map(); // mid -> MediaStream of what arrives on that slot or lane
let retryMs = 1000;
let over = false; // refused, ended, or replaced by a newer window: no reconnecting
let inMedia = false; // publishing and receiving (once admitted)

function say(key) {
  state.textContent = text(key);
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function gathered(connection) {
  // Complete descriptions (no trickle): wait for ICE gathering, at most 3 s.
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (connection.iceGatheringState === "complete") resolve();
    };
    connection.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
}

async function openDevices(constraints) {
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (error) {
    state.textContent = text("NoCamera");
    return null;
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind, track] of [
    [cameraChoice, "videoinput", local?.getVideoTracks()[0]],
    [micChoice, "audioinput", local?.getAudioTracks()[0]],
  ]) {
    select.replaceChildren(
      ...devices
        .filter((device) => device.kind === kind)
        .map((device, n) => new Option(device.label || `${kind} ${n + 1}`, device.deviceId)),
    );
    const current = track?.getSettings().deviceId;
    if (current) select.value = current;
  }
}

async function switchDevice(kind, deviceId) {
  const fresh = await openDevices({ [kind]: { deviceId: { exact: deviceId } } });
  const track = fresh?.getTracks()[0];
  if (!track || !local) return;
  const old = kind === "video" ? local.getVideoTracks()[0] : local.getAudioTracks()[0];
  track.enabled = old ? old.enabled : true;
  const sender = publishing?.getSenders().find((s) => s.track?.kind === track.kind);
  if (sender) await sender.replaceTrack(track);
  if (old) {
    local.removeTrack(old);
    old.stop();
  }
  local.addTrack(track);
}

function toggle(button, kind) {
  const tracks = kind === "audio" ? local?.getAudioTracks() : local?.getVideoTracks();
  if (!tracks?.length) return;
  const off = button.getAttribute("aria-pressed") !== "true";
  for (const track of tracks) track.enabled = !off;
  button.setAttribute("aria-pressed", String(off));
}

function tileFor(mid) {
  let tile = tiles.querySelector(`[data-mid="${mid}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.mid = mid;
    const video = document.createElement("video");
    video.autoplay = true;
    video.muted = true; // sound comes through the audio lanes
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    tile.append(video, caption);
    tiles.append(tile);
  }
  return tile;
}

function streamFor(mid) {
  if (!streams.has(mid)) streams.set(mid, new MediaStream());
  return streams.get(mid);
}

function showLayout(layout) {
  for (const slot of layout.video) {
    const tile = tileFor(slot.mid);
    const video = tile.querySelector("video");
    if (video.srcObject !== streamFor(slot.mid)) video.srcObject = streamFor(slot.mid);
    tile.hidden = slot.participant === null;
    tile.dataset.participant = slot.participant ?? "";
    tile.querySelector("figcaption").textContent =
      welcome.people[slot.participant] ?? slot.participant ?? "";
    tile.classList.toggle("speaking", slot.participant !== null && slot.participant === layout.speaker);
  }
  tiles.dataset.count = String(layout.video.filter((slot) => slot.participant !== null).length);
  for (const lane of layout.audio) {
    let audio = lanes.querySelector(`[data-mid="${lane.mid}"]`);
    if (!audio) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = lane.mid;
      audio.srcObject = streamFor(lane.mid);
      lanes.append(audio);
    }
    audio.dataset.participant = lane.participant ?? "";
  }
}

function hangUp() {
  inMedia = false;
  for (const connection of [publishing, receiving]) connection?.close();
  publishing = receiving = null;
  streams = new Map();
  tiles.replaceChildren();
  lanes.replaceChildren();
}

function videoSupported() {
  // The room has one video codec; a browser without it (Firefox before its OpenH264 plug-in is
  // downloaded, in an H.264 room) takes part by voice, and says so.
  const codecs = RTCRtpSender.getCapabilities?.("video")?.codecs ?? [];
  return codecs.some((codec) => codec.mimeType.toLowerCase() === welcome.videoCodec.toLowerCase());
}

async function publish() {
  publishing = new RTCPeerConnection({ iceServers: welcome.iceServers, bundlePolicy: "max-bundle" });
  for (const track of local?.getTracks() ?? []) {
    if (track.kind === "video" && !videoSupported()) continue;
    publishing.addTransceiver(track, { direction: "sendonly", streams: [local] });
  }
  await publishing.setLocalDescription(await publishing.createOffer());
  await gathered(publishing);
  send({ type: "publish", sdp: publishing.localDescription.sdp });
}

async function receive(offer) {
  receiving?.close();
  receiving = new RTCPeerConnection({ iceServers: welcome.iceServers, bundlePolicy: "max-bundle" });
  receiving.addEventListener("track", (event) => {
    streamFor(event.transceiver.mid).addTrack(event.track);
  });
  receiving.addEventListener("connectionstatechange", () => {
    if (receiving?.connectionState === "failed") socket?.close(); // start over
  });
  await receiving.setRemoteDescription({ type: "offer", sdp: offer });
  await receiving.setLocalDescription(await receiving.createAnswer());
  await gathered(receiving);
  send({ type: "answer", sdp: receiving.localDescription.sdp });
}

async function handle(message) {
  if (message.type === "welcome") {
    welcome = message;
    retryMs = 1000;
    hangUp();
    say("Live");
    codecNote.hidden = videoSupported();
  } else if (message.type === "meeting") {
    showMeeting({ ...message, self: welcome.participant }, send);
    if (message.you === "present" && !inMedia) {
      inMedia = true;
      if (local?.getTracks().length) await publish();
      send({ type: "subscribe" });
    } else if (message.you !== "present" && inMedia) {
      hangUp();
    }
  } else if (message.type === "ended") {
    over = true;
    hangUp();
    say("Ended");
    socket.close();
  } else if (message.type === "answer") {
    await publishing?.setRemoteDescription({ type: "answer", sdp: message.sdp });
  } else if (message.type === "offer") {
    await receive(message.sdp);
  } else if (message.type === "layout") {
    showLayout(message);
  } else if (message.type === "replaced") {
    over = true;
    hangUp();
    say("Replaced");
    socket.close();
  } else if (message.type === "error") {
    state.textContent = refusal(message.message);
    setTimeout(() => say("Live"), 4000);
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/events/${room.dataset.event}/room/signal`);
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code in REFUSALS) {
      hangUp();
      say(REFUSALS[event.code]);
      return;
    }
    if (over) return;
    say("Reconnecting");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  });
}

async function start() {
  say("Connecting");
  local = await openDevices({
    audio: true,
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
  });
  if (local) {
    preview.srcObject = local;
    await listDevices();
  }
  micButton.addEventListener("click", () => {
    toggle(micButton, "audio");
    // The room may be holding this voice back (muted on entry, or by the chair): ask it too.
    if (micButton.getAttribute("aria-pressed") === "false") send({ type: "unmute" });
  });
  cameraButton.addEventListener("click", () => toggle(cameraButton, "video"));
  cameraChoice.addEventListener("change", () => switchDevice("video", cameraChoice.value));
  micChoice.addEventListener("change", () => switchDevice("audio", micChoice.value));
  wireMeeting(send);
  connect();
}

start();
