// Reporting > Delivery Status refreshes itself: every few seconds it fetches the same rows
// as JSON (the page's own URL with format=json, same sort) and rewrites the table's body.
// Text goes in with textContent only: a host name is never read as HTML.  Nobody at the
// page (no key, click, pointer or scroll) for the session's inactivity timeout: it stops
// asking, so a forgotten tab does not keep the session alive.
"use strict";
(function () {
  var COLUMNS = ["active", "conn_out", "delivered", "soft_bounced", "hard_bounced"];

  function cell(row, className, text) {
    var td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function rowFor(data, hostPath) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-host", data.host);
    cell(tr, "up", data.up ? "Up" : "Down");
    var link = document.createElement("a");
    link.href = hostPath + "?hostname=" + encodeURIComponent(data.host);
    link.textContent = data.host;
    cell(tr, "host", "").appendChild(link);
    COLUMNS.forEach(function (key) {
      cell(tr, "number " + key, Number(data[key]).toLocaleString("en-US"));
    });
    return tr;
  }

  function show(table, answer) {
    var body = document.createElement("tbody");
    var hostPath = table.getAttribute("data-host-path");
    answer.rows.forEach(function (data) { body.appendChild(rowFor(data, hostPath)); });
    if (!answer.rows.length) {
      var empty = document.createElement("tr");
      empty.className = "empty";
      cell(empty, "", "No destination domains.").colSpan = 7;
      body.appendChild(empty);
    }
    table.replaceChild(body, table.tBodies[0]);
    var asOf = document.getElementById("status-as-of");
    if (asOf) { asOf.textContent = answer.as_of; }
    table.setAttribute("data-refreshed", String(Date.now()));
  }

  function refresh(table) {
    fetch(table.getAttribute("data-json"), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (answer) { show(table, answer); })
      .catch(function () { /* logged out or unreachable: keep the last rows */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("delivery-status");
    if (!table) { return; }
    var every = parseInt(table.getAttribute("data-refresh-ms"), 10) || 3000;
    var idle = parseInt(table.getAttribute("data-idle-ms"), 10) || 1800000;
    var lastTouched = Date.now();
    ["keydown", "mousedown", "pointermove", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, function () { lastTouched = Date.now(); },
                                {passive: true});
    });
    var timer = window.setInterval(function () {
      if (Date.now() - lastTouched >= idle) {
        window.clearInterval(timer);
        table.setAttribute("data-stopped", "idle");
        return;
      }
      refresh(table);
    }, every);
  });
})();
