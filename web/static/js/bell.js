// The bell in the top bar: the number of unread notices, read from /api/notices/unread when
// the page loads, when the tab comes back into view, and every two minutes while it is shown.
// Without this script the bell is still a link to the notices page.
const bell = document.getElementById("bell");
const unreadPart = bell?.querySelector(".bell-unread");
const count = bell?.querySelector(".bell-count");
const EVERY_MS = 120_000;

async function refresh() {
  if (document.visibilityState === "hidden") return;
  try {
    const response = await fetch("/api/notices/unread", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const { unread } = await response.json();
    count.textContent = unread > 99 ? "99+" : String(unread);
    unreadPart.hidden = unread === 0;
    bell.classList.toggle("has-unread", unread > 0);
  } catch (_) {
    /* offline for a moment: the next refresh tries again */
  }
}

if (bell && count && unreadPart) {
  refresh();
  document.addEventListener("visibilitychange", refresh);
  window.addEventListener("pageshow", refresh); // back/forward cache shows an old number
  setInterval(refresh, EVERY_MS);
}
