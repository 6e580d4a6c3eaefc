// The dashboard's numbers, refreshed every 15 seconds without reloading the page. The page
// is complete without this script; it only keeps the numbers current on a wall screen.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch) { return; }
  function refresh() {
    fetch(box.getAttribute("data-src"), {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        box.querySelectorAll("[data-live]").forEach(function (el) {
          var key = el.getAttribute("data-live");
          if (key in data) { el.textContent = data[key]; }
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 15000);
}());
