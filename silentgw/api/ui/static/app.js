// The staff page's little script: the live event feed (new events from the page's own stream, prepended to the
// list) and a question before a form that cannot be undone. Without it the page still works; the feed then shows
// the events of when the page loaded.
"use strict";
// A form marked data-confirm (cancelling a restock request cannot be undone) asks first.
document.addEventListener("submit", function (event) {
  var question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
(function () {
  var feed = document.getElementById("feed");
  var status = document.getElementById("feed-status");
  if (!feed || !window.EventSource) {
    return;
  }
  var KEEP = 100;
  // the site's time, as the server writes the times it renders ("2026-11-24 10:11:00")
  var clock = function (zone) {
    var parts = {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hour12: false, timeZone: zone};
    try {
      return new Intl.DateTimeFormat("sv-SE", parts);
    } catch (err) {  // a zone this browser does not know: its own
      parts.timeZone = undefined;
      return new Intl.DateTimeFormat("sv-SE", parts);
    }
  }(feed.dataset.tz || undefined);
  var when = function (iso) {
    var t = new Date(iso);
    return isNaN(t.getTime()) ? iso : clock.format(t);
  };
  var span = function (cls, text) {
    var el = document.createElement(cls === "time" ? "time" : "span");
    if (cls !== "time") {
      el.className = cls;
    }
    el.textContent = text;  // text, never HTML: event data is not trusted markup
    return el;
  };
  var say = function (text) {
    if (status) {
      status.textContent = text;
    }
  };
  var source = new EventSource("/ui/events/stream?since_seq=" + encodeURIComponent(feed.dataset.since || "0"));
  source.onopen = function () { say("Newest first, live."); };
  source.onerror = function () { say(source.readyState === EventSource.CLOSED ? "Stopped: refresh the page." : "Reconnecting…"); };
  source.onmessage = function (message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (err) {
      return;
    }
    var item = document.createElement("li");
    item.className = "fresh";
    item.dataset.id = event.id;
    item.append(span("time", when(event.time)), " ", span("type", String(event.type).replace(/^silentgw\./, "")),
      " ", span("subject", event.subject || ""));
    var empty = feed.querySelector("li.empty");
    if (empty) {
      empty.remove();
    }
    feed.insertBefore(item, feed.firstChild);
    while (feed.children.length > KEEP) {
      feed.removeChild(feed.lastChild);
    }
  };
})();
