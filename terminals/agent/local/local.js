// The roll call's 应到 / 实到, kept current while the page stays open (another window, or a
// scanner at a second machine on the same agent, may check members in too).
const counts = document.getElementById("present");
const session = document.getElementById("session");
if (counts && session && session.dataset.live === "yes") {
  setInterval(async () => {
    try {
      const response = await fetch(`/api/sessions/${session.dataset.id}`, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const now = await response.json();
      counts.textContent = String(now.present);
      document.getElementById("expected").textContent = String(now.expected);
    } catch { /* the local app restarted: the next tick tries again */ }
  }, 5000);
}
