// The login page's poll: once the code is sent in chat, go on to the console; a new code when it expired.
// The page works without this file: it says to reload, and reloading does the same.
(function () {
  "use strict";
  var box = document.getElementById("login-code");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-status");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.state === "logged_in") { window.location.assign(status.next || "/console/"); return; }
        if (status.state === "expired") { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
}());
