// The top bar's menu button on narrow screens: it shows and hides the site links in a panel
// under the bar, so the bar stays one row for every role. Enter or Space toggles it (it is a
// button), Escape or a click elsewhere closes it. Without this script the button stays hidden
// and the links wrap below the brand.
const bar = document.querySelector(".topbar");
const button = bar?.querySelector(".menu-button");
const menu = button && document.getElementById(button.getAttribute("aria-controls"));

function setOpen(open) {
  button.setAttribute("aria-expanded", String(open));
  bar.classList.toggle("menu-open", open);
}

if (menu) {
  bar.classList.add("has-menu");
  button.hidden = false;
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("menu-open")) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!bar.contains(event.target)) setOpen(false);
  });
}
