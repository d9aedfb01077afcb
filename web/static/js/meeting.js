// The meeting beside the video: roll call and quorum, who is here, hands, the floor and its
// timer, the agenda item in hand, chat, and the chair's console. Messages are those of
// streaming/congress/meeting.py; `send` puts one on the room's WebSocket.

const room = document.getElementById("room");
const text = (key, values = {}) =>
  room.dataset[`text${key}`].replace(/%\((\w+)\)s/g, (_, name) => values[name] ?? "");
const people = document.getElementById("people");
const rollFigures = document.getElementById("roll-figures");
const floorLine = document.getElementById("floor-line");
const lobbyNote = document.getElementById("lobby-note");
const handButton = document.getElementById("hand");
const chatLines = document.getElementById("chat-lines");
const chatForm = document.getElementById("chat-form");
const agenda = document.getElementById("agenda");
const votePanel = document.getElementById("vote-panel");
const voteMotion = document.getElementById("vote-motion");
const voteChoices = document.getElementById("vote-choices");
const voteCount = document.getElementById("vote-count");
const resultsPanel = document.getElementById("results-panel");
const voteResults = document.getElementById("vote-results");
const motionForm = document.getElementById("motion-form");
const venueRoll = document.getElementById("venue-roll");
const venueRoster = document.getElementById("venue-roster");
const venueBallots = document.getElementById("venue-ballots");

let last = null; // the latest meeting state
let floorTimer = null;

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "small";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function clock(seconds) {
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

function showFloor(state, names) {
  clearInterval(floorTimer);
  floorLine.hidden = !state.floor;
  if (!state.floor) return;
  const paint = () => {
    const spoken = Math.max(0, Math.floor((Date.now() - Date.parse(state.floorSince)) / 1000));
    const time = `${clock(spoken)} / ${clock(state.floorLimit)}`;
    floorLine.textContent = `${text("Floor", { name: names.get(state.floor) })} · ${time}`;
    floorLine.classList.toggle("overtime", spoken > state.floorLimit);
  };
  paint();
  floorTimer = setInterval(paint, 1000);
}

function showPeople(state, send) {
  people.replaceChildren(
    ...state.people.map((person) => {
      const item = document.createElement("li");
      item.dataset.participant = person.key;
      item.dataset.state = person.state;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = person.name;
      const atVenue = person.at && person.state !== "present";
      const badges = [
        atVenue ? text("AtVenue", { site: person.at }) : text(`State${person.state[0].toUpperCase()}${person.state.slice(1)}`),
      ];
      if (person.hand) badges.push(text("Hand"));
      if (person.excused) badges.push(text("Excused", { reason: person.excused }));
      if (person.muted && person.state === "present") badges.push(text("Muted"));
      if (person.role === "venue") badges.push(text("Venue"), text("OnRoll", { count: person.roll }));
      const status = document.createElement("small");
      status.className = "hint";
      status.textContent = badges.join(" · ");
      item.append(name, " ", status);
      if (state.moderator && person.key !== state.self) {
        const act = (message) => () => send({ ...message, participant: person.key });
        const tools = document.createElement("span");
        tools.className = "person-tools";
        if (person.state === "lobby" || person.state === "removed") {
          tools.append(button(text("Admit"), act({ type: "admit" })));
        }
        if (person.state === "away" && !atVenue && person.role && person.role !== "observer") {
          if (person.excused) {
            tools.append(button(text("Unexcuse"), act({ type: "excuse", excused: false })));
          } else {
            tools.append(
              button(text("Excuse"), () => {
                const reason = window.prompt(text("ExcuseReason"));
                if (reason?.trim()) send({ type: "excuse", participant: person.key, reason });
              }),
            );
          }
        }
        if (person.state === "present") {
          if (person.role && state.floor !== person.key) {
            tools.append(button(text("GiveFloor"), act({ type: "floor" })));
          }
          if (!person.muted) tools.append(button(text("Mute"), act({ type: "mute" })));
          tools.append(button(text("Spotlight"), act({ type: "spotlight" })));
          tools.append(button(text("Remove"), act({ type: "remove" })));
        }
        item.append(tools);
      }
      return item;
    }),
  );
}

function showChat(state, send) {
  chatLines.replaceChildren(
    ...state.chat.map((line) => {
      const item = document.createElement("li");
      const who = document.createElement("strong");
      who.textContent = `${line.name}：`;
      item.append(who, line.text);
      if (state.moderator) {
        item.append(" ", button(text("Hide"), () => send({ type: "hide", message: line.id })));
      }
      return item;
    }),
  );
  chatLines.scrollTop = chatLines.scrollHeight;
}

function showRoster(state, send) {
  // A sub-venue's page: the roll it takes (kept as ticked while the operator edits it), and
  // the votes of its members on the open motion.
  if (!venueRoster || !state.roster) return;
  const editing = venueRoll.contains(document.activeElement) && venueRoster.children.length;
  if (!editing) {
    venueRoster.replaceChildren(
      ...state.roster.map((member) => {
        const item = document.createElement("li");
        const label = document.createElement("label");
        label.className = "choice";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.value = member.id;
        box.checked = member.here;
        label.append(box, ` ${member.name}`);
        item.append(label);
        return item;
      }),
    );
  }
  const voting = state.vote ? state.roster.filter((member) => member.mayVote) : [];
  venueBallots.replaceChildren(
    ...voting.map((member) => {
      const item = document.createElement("li");
      item.append(`${member.name} `);
      if (member.voted) {
        item.append(venueBallots.dataset.voted);
      } else {
        for (const choice of ["for", "against", "abstain"]) {
          item.append(
            button(venueBallots.dataset[choice], () => send({ type: "ballot", choice, member: member.id })),
            " ",
          );
        }
      }
      return item;
    }),
  );
}

function showVotes(state) {
  const vote = state.vote;
  votePanel.hidden = !vote;
  if (vote) {
    voteMotion.textContent = vote.title;
    voteChoices.hidden = !vote.mayVote || vote.voted;
    voteCount.textContent = [
      vote.voted ? text("Voted") : "",
      text("Ballots", { ballots: vote.ballots, voters: vote.voters }),
    ]
      .filter(Boolean)
      .join(" ");
  }
  resultsPanel.hidden = state.results.length === 0;
  voteResults.replaceChildren(
    ...state.results.map((result) => {
      const item = document.createElement("li");
      const figures = { ...result, in_favour: result.for };
      item.textContent = `${text("Result", figures)} · ${text(result.carried ? "Carried" : "NotCarried")}`;
      return item;
    }),
  );
}

export function showMeeting(state, send) {
  last = state;
  const names = new Map(state.people.map((person) => [person.key, person.name]));
  lobbyNote.hidden = state.you === "present";
  lobbyNote.textContent = state.you === "removed" ? text("Removed") : text("Lobby");
  const roll = state.roll;
  rollFigures.textContent = `${text("Roll", roll)} · ${text(roll.quorate ? "Quorate" : "NotQuorate")}`;
  rollFigures.className = roll.quorate ? "quorate" : "not-quorate";
  showFloor(state, names);
  const raised = state.queue.includes(state.self);
  handButton.setAttribute("aria-pressed", String(raised));
  handButton.textContent = text(raised ? "LowerHand" : "RaiseHand");
  handButton.hidden = state.you !== "present" || Boolean(state.roster);
  showPeople(state, send);
  showRoster(state, send);
  showChat(state, send);
  showVotes(state);
  for (const [n, item] of [...(agenda?.children ?? [])].entries()) {
    if (n + 1 === state.agenda) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  }
}

export function wireMeeting(send) {
  handButton.addEventListener("click", () => {
    send({ type: "hand", raised: handButton.getAttribute("aria-pressed") !== "true" });
  });
  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const field = chatForm.elements.text;
    if (field.value.trim()) send({ type: "chat", text: field.value.trim() });
    field.value = "";
  });
  for (const choice of voteChoices.querySelectorAll("[data-choice]")) {
    choice.addEventListener("click", () => send({ type: "ballot", choice: choice.dataset.choice }));
  }
  venueRoll?.addEventListener("submit", (event) => {
    event.preventDefault();
    const present = [...venueRoster.querySelectorAll("input:checked")].map((box) => Number(box.value));
    send({ type: "roll", present });
    document.activeElement?.blur();
  });
  motionForm?.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = motionForm.elements.title.value.trim();
    if (!title) return;
    send({ type: "motion", title, anonymous: motionForm.elements.anonymous.checked });
    motionForm.reset();
  });
  for (const control of document.querySelectorAll("[data-command]")) {
    control.addEventListener("click", () => {
      const command = control.dataset.command;
      if (command === "next-item") {
        send({ type: "agenda", position: Math.min((last?.agenda ?? 0) + 1, agenda.children.length) });
      } else if (command === "admit" || command === "mute" || command === "floor" || command === "spotlight") {
        send({ type: command, participant: null });
      } else {
        send({ type: command });
      }
    });
  }
}

export function refusal(message) {
  return text("Refused", { reason: message });
}
