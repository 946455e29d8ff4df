// fph.js: collects the browser data HMRC's fraud prevention headers need
// (WEB_APP_VIA_SERVER, spec v3.3) and hands it to the server. No
// dependencies, no inline script: load with
//   <script src="/static/fph.js" defer></script>
// The server parses it with hmrc.ParseDeviceJSON / hmrc.ParseDeviceCookie:
//   {"ua":..., "screens":[{"width","height","scalingFactor","colourDepth"}],
//    "windowWidth":..., "windowHeight":..., "tzOffset":...}
(function () {
  'use strict';

  // collect reads the values afresh: window size and screen can change.
  function collect() {
    var s = window.screen || {};
    return JSON.stringify({
      ua: navigator.userAgent,
      screens: [{
        width: s.width,
        height: s.height,
        scalingFactor: window.devicePixelRatio,
        colourDepth: s.colorDepth
      }],
      windowWidth: window.innerWidth,
      windowHeight: window.innerHeight,
      // Minutes to add to local time to get UTC: UTC+01:00 is -60.
      tzOffset: new Date().getTimezoneOffset()
    });
  }

  // base64url of the UTF-8 bytes, unpadded, so the cookie value needs no quoting.
  function base64url(str) {
    var bytes = new TextEncoder().encode(str), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // publish writes the JSON into every hidden "fph" input (form POSTs) and
  // into the mtdconnect_fph cookie (GET navigations and fetches).
  function publish() {
    var json = collect();
    var inputs = document.querySelectorAll('input[type="hidden"][name="fph"]');
    for (var i = 0; i < inputs.length; i++) inputs[i].value = json;
    document.cookie = 'mtdconnect_fph=' + base64url(json) +
      '; path=/; max-age=31536000; SameSite=Lax' +
      (location.protocol === 'https:' ? '; Secure' : '');
  }

  publish();
  // Refresh just before any form is sent (capture phase, so it runs before
  // the form's own handlers and also covers forms added after load).
  document.addEventListener('submit', publish, true);
  var timer;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(publish, 250);
  });
})();
