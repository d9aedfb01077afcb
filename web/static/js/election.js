// An election's page: where it stands, drawn from the standing the page came with and drawn
// again at each change the live feed sends (server-sent events). When the feed is out of reach
// (a proxy that buffers, a CDN in front), the snapshot in storage is polled instead. The
// program plays while the election is broadcast.

import { playLive } from "/static/js/program.js";

const panel = document.getElementById("standing");
const text = (key, values = {}) =>
  panel.dataset[`text${key}`].replace(/%\((\w+)\)s/g, (_, name) => values[name] ?? "");
const POLL_MS = 2000;

let shown = -1;

function setText(id, value) {
  document.getElementById(id).textContent = value;
}

function drawTally(tally) {
  const list = document.getElementById("live-tally");
  const row = document.getElementById("tally-row");
  list.replaceChildren();
  if (!tally) return;
  const written = Object.entries(tally.write_ins).sort((a, b) => b[1] - a[1]);
  const names = [...tally.candidates.map((n) => [n, tally.votes[n] ?? 0, false]),
    ...written.map(([n, v]) => [n, v, true])];
  const most = Math.max(1, tally.threshold, ...names.map(([, votes]) => votes));
  for (const [name, votes, writtenIn] of names) {
    const item = row.content.firstElementChild.cloneNode(true);
    item.dataset.name = name;
    item.dataset.votes = votes;
    item.querySelector(".name").textContent = writtenIn ? text("WriteIn", { name }) : name;
    const meter = item.querySelector("meter");
    meter.max = most;
    meter.value = votes;
    let said = text("Votes", { votes });
    if (tally.elected.includes(name)) {
      item.classList.add("elected");
      said += ` · ${text("Elected")}`;
    } else if (tally.runoff.includes(name)) {
      said += ` · ${text("Runoff")}`;
    }
    item.querySelector(".votes").textContent = said;
    list.append(item);
  }
}

function drawVenues(venues) {
  const table = document.getElementById("live-venues");
  const row = document.getElementById("venue-row");
  table.hidden = venues.length === 0;
  table.tBodies[0].replaceChildren(
    ...venues.map((venue) => {
      const line = row.content.firstElementChild.cloneNode(true);
      const cells = line.querySelectorAll("td");
      cells[0].textContent = venue.venue;
      cells[1].textContent = venue.issued ?? "–";
      cells[2].textContent = venue.returned ?? "–";
      return line;
    }),
  );
}

export function draw(standing) {
  if (standing.seq <= shown) return;
  if (standing.announced && shown >= 0) {
    window.location.reload(); // the results are announced: the page shows them as final
    return;
  }
  shown = standing.seq;
  panel.dataset.seq = standing.seq;
  const round = document.getElementById("round-label");
  round.textContent = standing.round ? round.dataset.text.replace("%(number)s", standing.round) : "";
  for (const step of document.querySelectorAll("#steps li")) {
    const number = Number(step.dataset.step);
    step.classList.toggle("done", standing.step !== null && number < standing.step);
    if (number === standing.step) step.setAttribute("aria-current", "step");
    else step.removeAttribute("aria-current");
  }
  document.getElementById("adjourned").hidden = !standing.adjourned;
  const over = document.getElementById("over");
  over.hidden = standing.over.length === 0;
  over.textContent = text("Over", { venues: standing.over.join("、") });
  const counted = standing.expected > 0;
  setText("expected", counted ? standing.expected : "–");
  setText("present", counted ? standing.present : "–");
  setText("quorum", counted ? text(standing.quorate ? "Quorate" : "NotQuorate") : "–");
  const tally = standing.tally;
  setText("valid", tally ? tally.valid : "–");
  setText("invalid", tally ? tally.invalid : "–");
  setText("threshold", tally?.threshold ? text("Threshold", { votes: tally.threshold }) : "–");
  const voided = document.getElementById("void");
  voided.hidden = !tally?.void;
  voided.textContent = tally?.void ? text("Void", { reason: tally.void }) : "";
  drawTally(tally);
  drawVenues(standing.venues);
}

let polling = null;

async function poll() {
  const response = await fetch(panel.dataset.snapshot, { cache: "no-store" }).catch(() => null);
  if (response?.ok) draw(await response.json());
}

function follow() {
  if (!window.EventSource) {
    polling = setInterval(poll, POLL_MS);
    return;
  }
  const feed = new EventSource(panel.dataset.live);
  feed.addEventListener("standing", (message) => {
    clearInterval(polling);
    polling = null;
    draw(JSON.parse(message.data));
  });
  feed.addEventListener("error", () => {
    // The browser tries the feed again by itself; meanwhile (or for good, if it gave up) the
    // snapshot keeps the page current.
    if (polling === null) polling = setInterval(poll, POLL_MS);
  });
}

if (panel) {
  // The round in hand; once its results are announced the page shows them instead.
  draw(JSON.parse(panel.dataset.standing));
  follow();
}
const program = document.getElementById("program");
if (program) {
  const liveSync = Number(program.dataset.liveSync) || 2;
  window.addEventListener("load", () => playLive(program, program.dataset.source, { liveSync }));
}
