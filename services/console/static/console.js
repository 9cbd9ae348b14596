// Keeps the review queue current: every 5 s the rows are fetched again (same session,
// same origin) and swapped in. Nothing else on the console needs script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const body = document.querySelector("tbody[data-refresh]");
  if (!body) return;
  const url = body.getAttribute("data-refresh");
  setInterval(async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", redirect: "error" });
      if (response.ok) body.innerHTML = await response.text();
    } catch (error) {
      // Offline for a moment: the rows on screen stay until the next try.
    }
  }, 5000);
});
