// The page's own load time (navigation timing), shown in the footer; nothing else runs here.
window.addEventListener("load", function () {
  setTimeout(function () {
    var nav = performance.getEntriesByType("navigation")[0];
    var el = document.getElementById("load-ms");
    if (nav && el) { el.textContent = Math.round(nav.loadEventEnd - nav.startTime); }
  }, 0);
});
