// The end of a connect session opened in a popup (display=popup): post the
// outcome to the platform's page that opened it, for the platform's origin
// only, then close when connected. It reads data attributes: the page's
// strict Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var el = document.getElementById("connect-result");
  if (!el) {
    return;
  }
  var origin = el.getAttribute("data-origin");
  var status = el.getAttribute("data-status");
  var message = {
    type: "mtdconnect:connect",
    connect_session: el.getAttribute("data-session"),
    status: status,
    purpose: el.getAttribute("data-purpose"),
    error: el.getAttribute("data-error") || undefined
  };
  var posted = false;
  if (window.opener && origin) {
    try {
      window.opener.postMessage(message, origin);
      posted = true;
    } catch (e) {
      posted = false;
    }
  }
  var close = document.getElementById("close-window");
  if (close) {
    close.addEventListener("click", function () { window.close(); });
  }
  if (posted && status === "connected") {
    window.close();
  }
})();
