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
 * Engaged time: a second counts when the page is visible (Page Visibility API) and the
 * visitor moved, clicked, typed, scrolled or touched within the last 15 s. Counting is
 * local (a 1 s timer, no request); when the page is hidden or left (`visibilitychange`,
 * `pagehide`) one `Page Engaged` track call reports the page view's engaged seconds so far
 * (`properties.engaged_seconds`), sent with `navigator.sendBeacon` to the beacon route
 * (POST /beacon/v1/batch?writeKey=, text/plain) so it survives the unload. Without a write
 * key it is a pixel hit `e=page_engaged&sec=<seconds>`. A page read once and left sends one
 * report; each return to the tab and leaving again sends the new total (cumulative per page
 * view). docs/ingest.md, Engaged time.
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

  function stamp(message, messageId) {
    var now = new Date().toISOString();
    message.anonymousId = vid;
    message.messageId = messageId || uuid();
    message.timestamp = now;
    message.sentAt = now;
    message.context = {
      page: { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title },
      userAgent: navigator.userAgent,
      library: { name: "leadscore.js", version: "1" }
    };
    return message;
  }

  function send(kind, message) {
    stamp(message);
    return fetch(host + "/v1/" + kind, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Basic " + btoa(writeKey + ":") },
      body: JSON.stringify(message),
      keepalive: true
    });
  }

  // Engaged time (see the header): counted locally, reported when the page is hidden or left.
  var IDLE_MS = 15000;
  var pageId = uuid();
  var engaged = 0, reported = 0, reports = 0, lastActive = Date.now();
  function active() { lastActive = Date.now(); }
  ["mousemove", "mousedown", "keydown", "scroll", "wheel", "touchstart"].forEach(function (name) {
    window.addEventListener(name, active, { passive: true, capture: true });
  });
  setInterval(function () {
    if (document.visibilityState === "visible" && Date.now() - lastActive < IDLE_MS) engaged += 1;
  }, 1000);
  function reportEngaged() {
    if (engaged <= reported) return;
    reported = engaged;
    reports += 1;
    var id = pageId + "-" + reports;  // the report's id: a resent report is the same event
    if (writeKey && navigator.sendBeacon) {
      var message = stamp({ type: "track", event: "Page Engaged",
                            properties: { engaged_seconds: engaged, url: location.href, path: location.pathname } }, id);
      var body = JSON.stringify({ batch: [message] });  // text/plain: no preflight
      if (navigator.sendBeacon(host + "/beacon/v1/batch?writeKey=" + encodeURIComponent(writeKey), body)) return;
    }
    pixel("page_engaged", { sec: String(engaged), eid: id });  // no write key: the pixel (sent while the page is hidden)
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") reportEngaged();
    else active();
  });
  window.addEventListener("pagehide", reportEngaged);

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
