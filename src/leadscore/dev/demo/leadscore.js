/* leadscore tracking snippet: a page view per page load, plus track() and identify().
 *
 * Embed:  <script src="https://<your host>/leadscore.js" data-host="https://<API URL>"
 *                 data-write-key="<a WRITE_KEYS key>" async></script>
 *         <noscript><img src="https://<API URL>/t.gif?vid=nojs" width="1" height="1" alt=""></noscript>
 *
 * Page views go through the pixel (GET /t.gif); track() and identify() speak the
 * Segment HTTP Tracking API (POST /v1/track, /v1/identify), so the same calls work
 * from analytics.js. The visitor id lives in localStorage ("leadscore_vid").
 *
 * The write key in a page is public: events the model keeps for trusted senders (a purchase, an
 * opt-out) and money properties are dropped from it; send those from your server with a
 * `server:` key or a signed webhook (docs/ingest.md, Trust levels).
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-write-key]");
  var host = (script && script.getAttribute("data-host")) || location.origin;
  var writeKey = (script && script.getAttribute("data-write-key")) || "";
  var queue = (window.leadscore && window.leadscore.q) || [];

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  var vid;
  try {
    vid = localStorage.getItem("leadscore_vid");
    if (!vid) { vid = uuid(); localStorage.setItem("leadscore_vid", vid); }
  } catch (e) { vid = uuid(); }

  function pixel(type, extra) {
    var q = new URLSearchParams({ vid: vid, e: type || "page_view", url: location.href, ref: document.referrer });
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    var img = new Image(1, 1);
    img.src = host + "/t.gif?" + q.toString();
    return img;
  }

  function send(kind, message) {
    var now = new Date().toISOString();
    message.anonymousId = vid;
    message.messageId = uuid();
    message.timestamp = now;
    message.sentAt = now;
    message.context = {
      page: { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title },
      userAgent: navigator.userAgent,
      library: { name: "leadscore.js", version: "1" }
    };
    return fetch(host + "/v1/" + kind, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Basic " + btoa(writeKey + ":") },
      body: JSON.stringify(message),
      keepalive: true
    });
  }

  var api = {
    vid: vid,
    page: function () { return pixel("page_view"); },
    track: function (event, properties) { return send("track", { event: event, properties: properties || {} }); },
    identify: function (traits) { return send("identify", { traits: traits || {} }); }
  };
  window.leadscore = api;
  queue.forEach(function (call) { api[call[0]].apply(api, call.slice(1)); });
  api.page();
})();
