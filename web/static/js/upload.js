// Lesson upload over tus (resumable): progress bar, pause/resume, automatic retry after a dropped
// connection, then the processing job's progress until the lesson is ready.
import { api, csrf } from "/static/js/api.js";

const form = document.getElementById("upload-form");
const messages = document.getElementById("messages").dataset;
const el = (id) => document.getElementById(id);
let upload = null;

toggleNewCourse();
el("course").addEventListener("change", toggleNewCourse);

function toggleNewCourse() {
  const isNew = el("course").value === "";
  el("new-course").hidden = !isNew;
  el("course-title").required = isNew;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = el("file").files[0];
  if (!file) return;
  if (file.size > parseInt(form.dataset.max, 10)) { fail(messages.tooLarge); return; }
  const metadata = { filename: file.name, filetype: file.type || "application/octet-stream", title: el("title").value };
  if (el("course").value) metadata.course_id = el("course").value;
  else { metadata.course_title = el("course-title").value; metadata.org_id = el("org").value; }

  upload = new window.tus.Upload(file, {
    endpoint: "/api/uploads",
    chunkSize: 1024 * 1024,
    retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
    metadata,
    headers: { "X-CSRF-Token": csrf },
    removeFingerprintOnSuccess: true,
    onProgress(sent, total) {
      const percent = Math.floor((sent / total) * 100);
      el("upload-progress").value = percent;
      el("percent").textContent = `${percent}%`;
    },
    onShouldRetry(error) {
      const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
      if (!status) el("phase").textContent = messages.offline;
      return status === 0 || status >= 500 || status === 409 || status === 423;
    },
    onError(error) {
      const response = error.originalResponse;
      let detail = error.message;
      try { detail = JSON.parse(response.getBody()).detail || detail; } catch (_) { /* keep */ }
      fail(detail);
    },
    onSuccess() { followLesson(upload.url.split("/").pop()); },
  });
  el("upload-status").hidden = false;
  el("start").hidden = true;
  el("pause").hidden = false;
  el("phase").textContent = messages.uploading;
  const previous = await upload.findPreviousUploads();
  if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
});

el("pause").addEventListener("click", () => {
  upload.abort();
  el("pause").hidden = true;
  el("resume").hidden = false;
  el("phase").textContent = messages.paused;
});

el("resume").addEventListener("click", () => {
  el("resume").hidden = true;
  el("pause").hidden = false;
  el("phase").textContent = messages.uploading;
  upload.start();
});

async function followLesson(uploadId) {
  el("pause").hidden = true;
  el("phase").textContent = messages.processing;
  const lesson = await finishedLesson(uploadId);
  const poll = async () => {
    const current = await api("GET", `/api/lessons/${lesson.id}`);
    const percent = Math.floor(current.progress * 100);
    el("job-progress").value = percent;
    el("job-percent").textContent = `${percent}%`;
    if (current.status === "ready") {
      el("phase").textContent = messages.ready;
      el("lesson-link").href = `/lessons/${current.id}`;
      el("lesson-link").textContent = current.title;
      el("done").hidden = false;
    } else if (current.status === "failed") {
      fail(`${messages.failed} ${current.error}`);
    } else {
      setTimeout(poll, 1000);
    }
  };
  poll();
}

// Asking for the lesson completes the upload on the server if that failed before (a full disk,
// a restart): keep asking while the server answers that it cannot yet.
async function finishedLesson(uploadId) {
  let wait = 2000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await api("GET", `/api/uploads/${uploadId}`);
    } catch (error) {
      if ((error.status && error.status < 500) || attempt === 8) { fail(error.message); throw error; }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 30000);
    }
  }
}

function fail(message) {
  el("upload-status").hidden = false;
  el("upload-error").textContent = message;
  el("upload-error").hidden = false;
}
