// Lesson upload over tus (resumable): progress bar, pause/resume, automatic retry after a dropped
// connection, then the processing job's progress until the lesson is ready.
//
// The page is in one state at a time, and each button shows only where it applies:
//   idle       → the upload button (enabled)
//   uploading  → pause              (the upload button stays disabled from here on)
//   pausing    → nothing, until the request in flight has stopped
//   paused     → resume
//   error      → try again (the upload resumes from the last byte the server has)
//   processing → nothing: the file is in, the server transcodes it
import { api, csrf } from "/static/js/api.js";

const form = document.getElementById("upload-form");
const messages = document.getElementById("messages").dataset;
const el = (id) => document.getElementById(id);
let upload = null;
let retry = null; // what "try again" does: resume the upload, or ask for the lesson again

toggleNewCourse();
el("course").addEventListener("change", toggleNewCourse);
show("idle");

function toggleNewCourse() {
  const isNew = el("course").value === "";
  el("new-course").hidden = !isNew;
  el("course-title").required = isNew;
}

function show(state) {
  form.dataset.state = state;
  el("start").disabled = state !== "idle";
  el("fields").disabled = state !== "idle";
  el("pause").hidden = state !== "uploading";
  el("resume").hidden = state !== "paused";
  el("retry").hidden = state !== "error";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (form.dataset.state !== "idle") return; // a second click of a double click
  const file = el("file").files[0];
  if (!file) return;
  el("upload-error").hidden = true;
  if (file.size > parseInt(form.dataset.max, 10)) { fail(messages.tooLarge, "idle"); return; }
  show("uploading");
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
      if (form.dataset.state === "uploading") el("phase").textContent = messages.uploading;
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
      retry = resumeUpload;
      el("phase").textContent = messages.interrupted;
      fail(detail, "error");
    },
    onSuccess() { followLesson(upload.url.split("/").pop()); },
  });
  el("upload-status").hidden = false;
  el("phase").textContent = messages.uploading;
  const previous = await upload.findPreviousUploads();
  if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
});

el("pause").addEventListener("click", async () => {
  show("pausing"); // no button until the request in flight has stopped
  await upload.abort();
  show("paused");
  el("phase").textContent = messages.paused;
});

el("resume").addEventListener("click", resumeUpload);

el("retry").addEventListener("click", () => {
  el("upload-error").hidden = true;
  retry();
});

function resumeUpload() {
  show("uploading");
  el("phase").textContent = messages.uploading;
  upload.start();
}

async function followLesson(uploadId) {
  show("processing");
  el("phase").textContent = messages.processing;
  let lesson;
  try {
    lesson = await finishedLesson(uploadId);
  } catch (error) {
    retry = () => followLesson(uploadId);
    fail(error.message, "error");
    return;
  }
  const poll = async () => {
    let current;
    try {
      current = await api("GET", `/api/lessons/${lesson.id}`);
    } catch (_) {
      setTimeout(poll, 3000); // the server is away for a moment: keep asking
      return;
    }
    const percent = Math.floor(current.progress * 100);
    el("job-progress").value = percent;
    el("job-percent").textContent = `${percent}%`;
    if (current.status === "ready") {
      el("phase").textContent = messages.ready;
      el("lesson-link").href = `/lessons/${current.id}`;
      el("lesson-link").textContent = current.title;
      el("done").hidden = false;
    } else if (current.status === "failed") {
      fail(`${messages.failed} ${current.error}`, "processing");
    } else {
      setTimeout(poll, 1000);
    }
  };
  poll();
}

// Asking for the lesson completes the upload on the server if that failed before (a full disk,
// a restart): keep asking, a bounded number of times, while the server answers that it cannot yet.
async function finishedLesson(uploadId) {
  let wait = 2000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await api("GET", `/api/uploads/${uploadId}`);
    } catch (error) {
      if ((error.status && error.status < 500) || attempt === 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 30000);
    }
  }
}

function fail(message, state) {
  show(state);
  el("upload-status").hidden = false;
  el("upload-error").textContent = message;
  el("upload-error").hidden = false;
}
