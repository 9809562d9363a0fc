// chargeops console: the phone menu, the live station page and the notification bell.
// Loaded in <head> (not deferred) so the page is styled for scripts before it is drawn;
// the rest waits for the document.
"use strict";

document.documentElement.classList.remove("no-js");
document.documentElement.classList.add("js");

(function () {
  function wireNav() {
    var button = document.querySelector(".nav-toggle");
    if (!button) return;
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    function setOpen(open) {
      button.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("is-open", open);
    }
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        button.focus();
      }
    });
  }

  // --- the live station page -----------------------------------------------------------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function badge(status) {
    return el("span", { class: "badge status-" + String(status).toLowerCase() }, status);
  }

  function connectorName(c) {
    return c.evse_id === 0
      ? "Station (connector 0)"
      : "EVSE " + c.evse_id + " · connector " + c.connector_id;
  }

  function flash(row) {
    row.classList.remove("is-updated");
    void row.offsetWidth; // restart the animation
    row.classList.add("is-updated");
  }

  function showConnector(c, isChange) {
    var body = document.querySelector("[data-connectors]");
    if (!body) return;
    var key = c.evse_id + ":" + c.connector_id;
    var row = body.querySelector('tr[data-connector="' + key + '"]');
    if (row && row.dataset.at && Date.parse(row.dataset.at) > Date.parse(c.at)) return;
    if (!row) {
      row = el("tr", { "data-connector": key });
      row.appendChild(el("th", { scope: "row", "data-label": "Connector" }, connectorName(c)));
      [["status", "Status"], ["error", "Error"], ["since", "Since"]].forEach(function (field) {
        row.appendChild(el("td", { "data-field": field[0], "data-label": field[1] }));
      });
      var after = Array.prototype.find.call(body.rows, function (other) {
        var parts = other.dataset.connector.split(":").map(Number);
        return parts[0] > c.evse_id || (parts[0] === c.evse_id && parts[1] > c.connector_id);
      });
      body.insertBefore(row, after || null);
      var none = document.querySelector("[data-connectors-empty]");
      if (none) none.hidden = true;
    }
    var before = row.dataset.status;
    row.dataset.at = c.at;
    row.dataset.status = c.status;
    var status = row.querySelector('[data-field="status"]');
    status.replaceChildren(badge(c.status));
    var error = row.querySelector('[data-field="error"]');
    error.replaceChildren(
      document.createTextNode(c.error_code && c.error_code !== "NoError" ? c.error_code : "—")
    );
    if (c.info) {
      error.appendChild(document.createTextNode(" "));
      error.appendChild(el("span", { class: "hint" }, c.info));
    }
    row.querySelector('[data-field="since"]').replaceChildren(
      el("time", { datetime: c.at }, c.at_text)
    );
    if (isChange || (before && before !== c.status)) flash(row);
  }

  function showPresence(online) {
    var holder = document.querySelector("[data-live-presence]");
    if (!holder) return;
    holder.replaceChildren(
      el("span", { class: "badge status-" + (online ? "online" : "offline") },
        online ? "Online" : "Offline")
    );
  }

  function reloadSessions() {
    var section = document.querySelector("[data-fragment]");
    if (!section) return;
    fetch(section.dataset.fragment, {
      headers: { "X-Requested-With": "console" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok || response.redirected) return null;
      return response.text();
    }).then(function (html) {
      if (html !== null) section.querySelector("[data-fragment-body]").innerHTML = html;
    }).catch(function () { /* the next snapshot tries again */ });
  }

  // A live page's stream, whose state is told in ``state`` (an element, or null): every
  // live page (the station, the status board, the fault list) opens its stream here.
  function openLive(url, state, liveText) {
    function say(text, live) {
      if (!state) return;
      state.textContent = text;
      state.classList.toggle("is-live", Boolean(live));
    }
    var source = new EventSource(url);
    var slow = null;
    var said = false;
    source.addEventListener("open", function () {
      clearTimeout(slow);
      if (!said) say(liveText, true);
      said = true;
    });
    source.addEventListener("error", function () {
      clearTimeout(slow);
      if (source.readyState === EventSource.CLOSED) {
        say("Live updates stopped: reload the page to see changes.", false);
        return;
      }
      // Streams end every few seconds and reconnect at once: only a slow one is news.
      slow = setTimeout(function () {
        said = false;
        say("Reconnecting to live updates…", false);
      }, 3000);
    });
    window.addEventListener("pagehide", function () { source.close(); });
    return source;
  }
  window.chargeopsOpenLive = openLive;

  function wireLive() {
    var section = document.querySelector("[data-live]");
    if (!section || !window.EventSource) return;
    var source = openLive(
      section.dataset.live,
      document.querySelector("[data-live-state]"),
      "Live: this page updates as the station reports."
    );
    source.addEventListener("snapshot", function (event) {
      var data = JSON.parse(event.data);
      showPresence(data.online);
      var seen = document.querySelector("[data-live-last-seen]");
      if (seen && data.last_seen_text) seen.textContent = data.last_seen_text;
      data.connectors.forEach(function (c) { showConnector(c, false); });
      var stamp = document.querySelector("[data-sessions-stamp]");
      if (stamp && data.sessions_stamp !== undefined
          && stamp.getAttribute("data-sessions-stamp") !== data.sessions_stamp) {
        reloadSessions();
      }
    });
    source.addEventListener("connector", function (event) {
      showConnector(JSON.parse(event.data), true);
    });
    source.addEventListener("presence", function (event) {
      showPresence(JSON.parse(event.data).online);
    });
    source.addEventListener("meter", function (event) {
      var data = JSON.parse(event.data);
      var cell = document.querySelector('[data-energy-of="' + data.session_id + '"]');
      if (cell) cell.textContent = data.energy;
    });
    source.addEventListener("sessions", reloadSessions);
  }

  // --- the notification bell (alerts): every page of a signed-in person -----------------
  // Its stream says the unread count, then each new console notification of the person:
  // the count changes, a toast shows it, and the notifications page lists it first.

  var TOAST_MS = 10000;

  function showUnread(bell, unread) {
    var count = bell.querySelector("[data-bell-count]");
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    bell.dataset.unread = String(unread);
    bell.setAttribute("aria-label", "Notifications: " + (unread ? unread + " unread" : "none unread"));
    var onPage = document.querySelector("[data-inbox-unread]");
    if (onPage) onPage.textContent = unread + " unread";
  }

  function subjectOf(data) {
    return data.link ? el("a", { href: data.link }, data.subject) : el("span", {}, data.subject);
  }

  function severityBadge(data) {
    var value = String(data.severity || "info").toLowerCase();
    return el("span", { class: "badge severity-" + value },
      value.charAt(0).toUpperCase() + value.slice(1));
  }

  function toast(data) {
    var holder = document.querySelector("[data-toasts]");
    if (!holder) return;
    var item = el("div", { class: "toast", "data-toast": String(data.notification_id) });
    item.appendChild(severityBadge(data));
    item.appendChild(document.createTextNode(" "));
    item.appendChild(subjectOf(data));
    var close = el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(close);
    holder.appendChild(item);
    setTimeout(function () { item.remove(); }, TOAST_MS);
  }

  function listInInbox(data) {
    var list = document.querySelector("[data-inbox]");
    if (!list || list.querySelector('[data-notification="' + data.notification_id + '"]')) return;
    var item = el("li", { class: "inbox-item is-unread is-updated",
      "data-notification": String(data.notification_id) });
    var head = el("span", { class: "inbox-head" });
    head.appendChild(el("span", { class: "badge badge-new" }, "New"));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(severityBadge(data));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(subjectOf(data));
    item.appendChild(head);
    item.appendChild(el("span", { class: "hint" }, data.at_text));
    list.insertBefore(item, list.firstChild);
    var none = document.querySelector("[data-inbox-empty]");
    if (none) none.hidden = true;
  }

  function wireBell() {
    var bell = document.querySelector("[data-bell]");
    if (!bell || !window.EventSource) return;
    var source = new EventSource(bell.dataset.bellStream);
    source.addEventListener("unread", function (event) {
      showUnread(bell, JSON.parse(event.data).unread);
    });
    source.addEventListener("notification", function (event) {
      var data = JSON.parse(event.data);
      showUnread(bell, data.unread);
      toast(data);
      listInInbox(data);
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireNav();
    wireLive();
    wireBell();
  });
})();
