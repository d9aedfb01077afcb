// The lesson page's captions form (editors only): add or replace the captions in a language,
// or remove them after asking. The server checks the file and names the cue that is wrong.
import { api } from "/static/js/api.js";
import { confirmDelete, showError } from "/static/js/confirm.js";

const form = document.getElementById("captions-form");
if (form) wire(form);

function wire(form) {
  const errorBox = document.getElementById("captions-error");
  const url = `/api/lessons/${form.dataset.lesson}/captions`;
  const submit = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api("POST", url, new FormData(form));
      window.location.reload();
    } catch (error) {
      submit.disabled = false;
      showError(errorBox, error);
    }
  });
  for (const button of form.querySelectorAll("[data-captions-remove]")) {
    button.addEventListener("click", async () => {
      if (!(await confirmDelete(button.dataset.confirm))) { button.focus(); return; }
      try {
        await api("DELETE", `${url}/${encodeURIComponent(button.dataset.captionsRemove)}`);
        window.location.reload();
      } catch (error) {
        showError(errorBox, error);
      }
    });
  }
}
