// The web phone simulator: keep the conversation at its end and fetch new messages every 1.5 s.
// Everything works without this script (the 刷新 link reloads the page).
(function () {
  "use strict";
  var box = document.getElementById("conversation");
  if (!box) {
    return;
  }
  var feed = box.getAttribute("data-feed");
  function toEnd() {
    box.scrollTop = box.scrollHeight;
  }
  toEnd();
  function poll() {
    fetch(feed, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && String(data.count) !== box.getAttribute("data-count")) {
          box.innerHTML = data.html;
          box.setAttribute("data-count", String(data.count));
          toEnd();
        }
      })
      .catch(function () {})
      .then(function () {
        window.setTimeout(poll, 1500);
      });
  }
  window.setTimeout(poll, 1500);
  var text = document.getElementById("message");
  if (text) {
    // Enter sends, Shift+Enter starts a new line (as WeChat on a computer).
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        document.getElementById("send").click();
      }
    });
  }
})();
