// The dispatch board refreshes itself: every few seconds it fetches this very page (same URL,
// same filters; the session cookie authenticates the read) and changes only the rows and cells
// that changed, so keyboard focus and the scroll position stay where the dispatcher left them.
// The rows are the server's (one template, one set of rules for order, colours and names); this
// script only counts the clocks down between refreshes. Each refresh that lands is announced
// with a "board:refreshed" event on the document (tests wait for it, never for time).
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) { return; }
  var POLL_MS = 5000;
  var body = table.querySelector("tbody");
  var stamp = document.getElementById("board-updated");
  var refreshes = 0;
  // The page's words in its language (the server renders them into data-words).
  var words = JSON.parse(table.dataset.words || "{}");
  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return String(values[name]); });
  }

  function duration(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var s = Math.abs(Math.trunc(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) { return sign + say(words.days, {days: d, hours: h}); }
    if (h) { return sign + say(words.hours, {hours: h, minutes: String(m).padStart(2, "0")}); }
    return sign + say(words.minutes, {minutes: m});
  }

  function keyOf(row) { return row.dataset.job || ("text:" + row.textContent); }

  // Make `current` look like `fresh` without replacing what did not change.
  function patchRow(current, fresh) {
    if (current.className !== fresh.className) { current.className = fresh.className; }
    var old = current.children, now = fresh.children;
    if (old.length !== now.length) { current.replaceChildren.apply(current, Array.prototype.slice.call(now)); return; }
    for (var i = 0; i < now.length; i++) {
      if (old[i].innerHTML !== now[i].innerHTML) { old[i].replaceWith(now[i].cloneNode(true)); }
    }
  }

  function update(doc) {
    var freshBody = doc.querySelector("#board tbody");
    if (!freshBody) { return; }
    var focused = document.activeElement;
    var x = window.scrollX, y = window.scrollY;
    var existing = {};
    Array.prototype.forEach.call(body.rows, function (row) { existing[keyOf(row)] = row; });
    var wanted = Array.prototype.map.call(freshBody.rows, function (fresh) {
      var key = keyOf(fresh), row = existing[key];
      if (row) { patchRow(row, fresh); delete existing[key]; return row; }
      return document.importNode(fresh, true);
    });
    Object.keys(existing).forEach(function (key) { existing[key].remove(); });
    wanted.forEach(function (row, i) {
      if (body.rows[i] !== row) { body.insertBefore(row, body.rows[i] || null); }
    });
    if (focused && focused !== document.activeElement && document.contains(focused)) { focused.focus({preventScroll: true}); }
    window.scrollTo(x, y);
    var count = doc.getElementById("nav-conflicts"), nav = document.getElementById("nav-conflicts");
    if (count && nav && nav.innerHTML !== count.innerHTML) { nav.innerHTML = count.innerHTML; }
  }

  function announce() {
    refreshes += 1;
    document.documentElement.dataset.boardRefreshes = String(refreshes);
    document.dispatchEvent(new CustomEvent("board:refreshed", {detail: {count: refreshes}}));
  }

  function poll() {
    fetch(window.location.pathname + window.location.search,
          {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (r.redirected && r.url.indexOf("/office/login") !== -1) { window.location = r.url; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        update(new DOMParser().parseFromString(html, "text/html"));
        if (stamp) { stamp.textContent = say(words.updated, {time: new Date().toLocaleTimeString(document.documentElement.lang)}); }
        announce();
      })
      .catch(function () { if (stamp) { stamp.textContent = words.unreachable; } })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  function tick() {
    var now = Date.now();
    body.querySelectorAll(".sla[data-due]").forEach(function (span) {
      span.textContent = duration((Date.parse(span.dataset.due) - now) / 1000);
    });
  }

  window.setTimeout(poll, POLL_MS);
  window.setInterval(tick, 1000);
}());
