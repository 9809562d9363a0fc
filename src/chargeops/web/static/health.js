// chargeops console: the live health pages (status board, fault list) and the uptime
// line of a station's page. The pages are whole without it; the server sends their rows
// again, drawn as a reload would draw them, and this puts them in place: a row that did
// not change is left alone (and keeps its focus), a changed one is replaced and flashes.
"use strict";

(function () {
  var drawn = new WeakMap(); // row -> the HTML it was drawn from

  function rowFrom(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var row = holder.content.firstElementChild;
    drawn.set(row, html);
    return row;
  }

  function flash(row) {
    row.classList.remove("is-updated");
    void row.offsetWidth; // restart the animation
    row.classList.add("is-updated");
  }

  function holdsFocus(row) {
    return row.contains(document.activeElement);
  }

  function syncRows(body, rows) {
    var old = new Map();
    Array.prototype.forEach.call(body.children, function (row) {
      old.set(row.dataset.key, row);
    });
    var previous = null;
    rows.forEach(function (item) {
      var row = old.get(item.key);
      old.delete(item.key);
      if (!row) {
        row = rowFrom(item.html);
        flash(row);
      } else if (drawn.get(row) !== item.html) {
        var fresh = rowFrom(item.html);
        var changed = fresh.dataset.sig !== row.dataset.sig;
        // a row someone is using keeps its place unless what it says changed
        if (changed || !holdsFocus(row)) {
          row.replaceWith(fresh);
          row = fresh;
          if (changed) flash(row);
        }
      }
      var wanted = previous ? previous.nextElementSibling : body.firstElementChild;
      if (wanted !== row) body.insertBefore(row, wanted);
      previous = row;
    });
    old.forEach(function (row) { row.remove(); });
  }

  function show(root, data) {
    var counts = root.querySelector("[data-health-counts]");
    if (counts && data.counts !== undefined && counts.dataset.drawn !== data.counts) {
      counts.innerHTML = data.counts;
      counts.dataset.drawn = data.counts;
    }
    var body = root.querySelector("[data-health-rows]");
    if (body && data.rows) {
      syncRows(body, data.rows);
      var table = root.querySelector("[data-health-table]");
      var none = root.querySelector("[data-health-empty]");
      if (table) table.hidden = data.rows.length === 0;
      if (none) none.hidden = data.rows.length > 0;
    }
  }

  function wireLive() {
    var root = document.querySelector("[data-health-live]");
    if (!root || !window.EventSource || !window.chargeopsOpenLive) return;
    var source = window.chargeopsOpenLive(
      root.dataset.healthLive,
      document.querySelector("[data-health-state]"),
      "Live: this page updates as stations report."
    );
    ["snapshot", "update"].forEach(function (kind) {
      source.addEventListener(kind, function (event) { show(root, JSON.parse(event.data)); });
    });
  }

  // the station page asks monitoring for its uptime line (its own view knows nothing of it)
  function wireFetched() {
    document.querySelectorAll("[data-health-fetch]").forEach(function (holder) {
      fetch(holder.dataset.healthFetch, {
        headers: { "X-Requested-With": "console" },
        credentials: "same-origin",
      }).then(function (response) {
        if (!response.ok || response.redirected) return null;
        return response.text();
      }).then(function (html) {
        if (html !== null) holder.innerHTML = html;
      }).catch(function () { /* the link stays */ });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireLive();
    wireFetched();
  });
})();
