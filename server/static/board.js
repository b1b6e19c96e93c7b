// The dispatch board refreshes itself from /api/v1/jobs (the session cookie authenticates the
// read) and counts the SLA clocks down between polls: no full page reload.
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) { return; }
  var POLL_MS = 5000;
  var body = table.querySelector("tbody");
  var stamp = document.getElementById("board-updated");
  // The page's words in its language (the server renders them into data-words).
  var words = JSON.parse(table.dataset.words || "{}");
  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return String(values[name]); });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function duration(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var s = Math.abs(Math.trunc(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) { return sign + say(words.days, {days: d, hours: h}); }
    if (h) { return sign + say(words.hours, {hours: h, minutes: String(m).padStart(2, "0")}); }
    return sign + say(words.minutes, {minutes: m});
  }

  function truncate(text, n) { return text.length > n ? text.slice(0, n - 3) + "..." : text; }

  function slaCell(job) {
    if (!job.sla_target) { return el("td", {}, [el("span", {"class": "muted"}, ["—"])]); }
    var span = el("span", {"class": "sla" + (job.overdue ? " overdue" : ""), "data-due": job.sla_due},
                  [duration(job.sla_left_s)]);
    return el("td", {}, [span, " ", el("small", {}, [job.sla_target === "respond" ? words.respond : words.onsite])]);
  }

  function row(job) {
    var link = el("a", {href: "/office/jobs/" + encodeURIComponent(job.id)}, [job.number]);
    var flags = el("td", {}, job.flags.map(function (f) { return el("span", {"class": "flag"}, [words.flag[f] || f.replace(/_/g, " ")]); }));
    return el("tr", {"class": "job sev" + job.severity + (job.overdue ? " overdue" : ""), "data-job": job.id}, [
      el("td", {}, [link]),
      el("td", {}, [el("span", {"class": "sev sev" + job.severity}, ["S" + job.severity])]),
      el("td", {}, [job.customer_name, el("br"), el("small", {}, [job.site_name])]),
      el("td", {"class": "fault"}, [truncate(job.fault, 90)]),
      el("td", {}, [job.assignee_name || "—"]),
      slaCell(job),
      flags
    ]);
  }

  function render(jobs) {
    var fresh = document.createDocumentFragment();
    var status = null;
    jobs.forEach(function (job) {
      if (job.status !== status) {
        status = job.status;
        fresh.appendChild(el("tr", {"class": "group"}, [el("th", {colspan: "7"}, [words.status[status] || status.replace(/_/g, " ")])]));
      }
      fresh.appendChild(row(job));
    });
    if (!jobs.length) { fresh.appendChild(el("tr", {}, [el("td", {colspan: "7", "class": "muted"}, [words.none])])); }
    body.replaceChildren(fresh);
    if (stamp) { stamp.textContent = say(words.updated, {time: new Date().toLocaleTimeString(document.documentElement.lang)}); }
  }

  function poll() {
    fetch(table.dataset.source, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { window.location = "/office/login?next=/office/board"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (jobs) { if (jobs) { render(jobs); } })
      .catch(function () { if (stamp) { stamp.textContent = words.unreachable; } })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  function tick() {
    var now = Date.now();
    body.querySelectorAll(".sla[data-due]").forEach(function (span) {
      var left = (Date.parse(span.dataset.due) - now) / 1000;
      span.textContent = duration(left);
      span.classList.toggle("overdue", left < 0);
    });
  }

  window.setTimeout(poll, POLL_MS);
  window.setInterval(tick, 1000);
}());
