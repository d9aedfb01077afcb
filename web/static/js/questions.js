// Viewers' questions (streaming/congress/questions.py). On the watch page a viewer sends one in;
// in the room the chair sees those waiting and puts one on screen or dismisses it; on both pages
// the question on screen shows as a caption panel, as text beside the picture (never in it).
import { api } from "/static/js/api.js";

const panel = document.getElementById("questions");
const text = (key) => panel.dataset[`text${key}`];
const base = panel.dataset.questions; // an event's, or a public election's (its event's)
const onScreen = document.getElementById("question-on-screen");
const waiting = document.getElementById("questions-waiting"); // the chair's list, if theirs
const form = document.getElementById("question-form"); // the viewer's form, on the watch page
const note = document.getElementById("question-note");
const REFRESH_MS = 3000;

function button(label, action, question) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.dataset.action = action;
  element.dataset.question = question;
  return element;
}

function showOnScreen(question) {
  onScreen.hidden = !question;
  onScreen.dataset.question = question ? question.id : "";
  onScreen.querySelector(".asker").textContent = question ? question.name : "";
  onScreen.querySelector(".question-text").textContent = question ? question.text : "";
  const takeOff = onScreen.querySelector("[data-action]");
  if (takeOff) takeOff.dataset.question = question ? question.id : "";
}

function showWaiting(pending) {
  waiting.replaceChildren(
    ...pending.map((question) => {
      const item = document.createElement("li");
      item.dataset.question = question.id;
      const who = document.createElement("strong");
      who.textContent = `${question.name}: `;
      const words = document.createElement("span");
      words.textContent = question.text;
      const actions = document.createElement("div");
      actions.className = "room-controls";
      actions.append(
        button(text("Show"), "show", question.id),
        button(text("Dismiss"), "dismiss", question.id),
      );
      item.append(who, words, actions);
      return item;
    }),
  );
  document.getElementById("questions-none").hidden = pending.length > 0;
}

async function refresh() {
  try {
    const state = await api("GET", base);
    showOnScreen(state.on_screen);
    if (waiting && state.pending !== null) showWaiting(state.pending);
  } catch (_) {
    /* the next look tries again */
  }
}

async function moderate(event) {
  const target = event.target.closest("button[data-action]");
  if (!target || !target.dataset.question) return;
  try {
    await api("POST", `${base}/${target.dataset.question}/${target.dataset.action}`);
  } catch (error) {
    note.textContent = error.message;
  }
  await refresh();
}

async function ask(event) {
  event.preventDefault();
  const data = new FormData(form);
  try {
    await api("POST", base, { text: data.get("text"), name: data.get("name") || "" });
    form.elements.text.value = "";
    note.textContent = text("Sent");
  } catch (error) {
    note.textContent = error.message;
  }
}

if (form) form.addEventListener("submit", ask);
if (waiting) panel.addEventListener("click", moderate);
onScreen.addEventListener("click", moderate);
refresh();
setInterval(refresh, REFRESH_MS);
