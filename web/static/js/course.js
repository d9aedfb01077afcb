// Course page for editors: edit the course and its cover, order lessons with up/down buttons
// (keyboard and TV remote: focus stays on the moved lesson), retry failed lessons, delete.
import { api } from "/static/js/api.js";
import { confirmDelete, showError } from "/static/js/confirm.js";

const list = document.getElementById("lessons");
const courseId = list.dataset.course;
const messages = document.getElementById("course-messages").dataset;
const status = document.getElementById("lessons-status");
const lessonsError = document.getElementById("lessons-error");

const items = () => Array.from(list.querySelectorAll(":scope > li"));
const titleOf = (item) => item.querySelector(".lesson-line a").textContent;
const say = (text) => { status.textContent = text; };

function refreshEdges() {
  const all = items();
  all.forEach((item, index) => {
    item.querySelector('[data-move="up"]').disabled = index === 0;
    item.querySelector('[data-move="down"]').disabled = index === all.length - 1;
  });
  document.getElementById("no-lessons").hidden = all.length > 0;
}

async function move(item, button) {
  const direction = button.dataset.move;
  const neighbour = direction === "up" ? item.previousElementSibling : item.nextElementSibling;
  if (!neighbour) return;
  const before = items();
  if (direction === "up") list.insertBefore(item, neighbour);
  else list.insertBefore(neighbour, item);
  refreshEdges();
  (button.disabled ? item.querySelector(`[data-move="${direction === "up" ? "down" : "up"}"]`) : button).focus();
  try {
    await api("PUT", `/api/courses/${courseId}/lesson-order`, {
      lesson_ids: items().map((li) => parseInt(li.dataset.lesson, 10)),
    });
    lessonsError.hidden = true;
    say(messages.moved.replace("{title}", titleOf(item)).replace("{position}", items().indexOf(item) + 1));
  } catch (error) {
    before.forEach((li) => list.append(li));
    refreshEdges();
    button.focus();
    showError(lessonsError, error);
  }
}

async function remove(item, button) {
  if (!(await confirmDelete(button.dataset.confirm))) { button.focus(); return; }
  try {
    await api("DELETE", `/api/lessons/${item.dataset.lesson}`);
  } catch (error) {
    showError(lessonsError, error);
    return;
  }
  const next = item.nextElementSibling || item.previousElementSibling;
  const title = titleOf(item);
  item.remove();
  refreshEdges();
  say(messages.deleted.replace("{title}", title));
  (next ? next.querySelector("a") : document.getElementById("course-title")).focus();
}

async function retry(item) {
  try {
    await api("POST", `/api/lessons/${item.dataset.lesson}/retry`);
    window.location.reload();
  } catch (error) {
    showError(lessonsError, error);
  }
}

list.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const item = button.closest("li");
  if (button.dataset.move) move(item, button);
  else if ("retry" in button.dataset) retry(item);
  else if ("delete" in button.dataset) remove(item, button);
});
refreshEdges();

// Queued and transcoding lessons: follow their progress, and show the result when it comes.
const following = items().filter((li) => ["queued", "transcoding"].includes(li.dataset.state));
if (following.length) {
  const timer = setInterval(async () => {
    for (const item of following.filter((li) => li.isConnected)) {
      let lesson;
      try { lesson = await api("GET", `/api/lessons/${item.dataset.lesson}`); } catch (_) { continue; }
      if (lesson.status !== "processing") { clearInterval(timer); window.location.reload(); return; }
      const label = item.querySelector(".status");
      label.className = `status status-${lesson.state}`;
      label.textContent = `${messages[lesson.state]} ${Math.round(lesson.progress * 100)}%`;
    }
  }, 3000);
}

const form = document.getElementById("course-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = form.elements;
  try {
    await api("PATCH", `/api/courses/${courseId}`, {
      title: fields.title.value,
      category: fields.category.value,
      description: fields.description.value,
      visibility: fields.visibility.value,
      org_id: parseInt(fields.org_id.value, 10),
    });
    window.location.reload();
  } catch (error) {
    showError(document.getElementById("course-error"), error);
  }
});

const coverForm = document.getElementById("cover-form");
coverForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("PUT", `/api/courses/${courseId}/cover`, new FormData(coverForm));
    window.location.reload();
  } catch (error) {
    showError(document.getElementById("cover-error"), error);
  }
});
document.getElementById("cover-remove")?.addEventListener("click", async () => {
  try {
    await api("DELETE", `/api/courses/${courseId}/cover`);
    window.location.reload();
  } catch (error) {
    showError(document.getElementById("cover-error"), error);
  }
});

const deleteCourse = document.getElementById("course-delete");
deleteCourse.addEventListener("click", async () => {
  if (!(await confirmDelete(deleteCourse.dataset.confirm))) { deleteCourse.focus(); return; }
  try {
    await api("DELETE", `/api/courses/${courseId}`);
    window.location.assign("/");
  } catch (error) {
    showError(document.getElementById("course-error"), error);
  }
});
