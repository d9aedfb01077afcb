// Ask before deleting: the page's <dialog id="confirm-dialog"> with the button's own question.
// Resolves true only when "delete" was chosen; Esc, "cancel" and the remote's back key say no.
export function confirmDelete(question) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-message").textContent = question;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

export function showError(box, error) {
  box.textContent = error.message;
  box.hidden = false;
}
