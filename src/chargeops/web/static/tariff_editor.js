// chargeops console: the tariff editor. Without this script every button posts the
// form and the server draws the editor again; with it, rows are added and removed in
// place, the chosen way of editing shows alone, and Preview fetches only the result.
"use strict";

(function () {
  var counter = 0;

  function renumber(list) {
    Array.prototype.forEach.call(list.querySelectorAll("[data-row]"), function (row, i) {
      var label = row.querySelector("[data-row-label]");
      if (label) label.textContent = "Row " + (i + 1);
      var remove = row.querySelector("[data-remove-row]");
      if (remove) remove.textContent = "Remove row " + (i + 1);
    });
  }

  function addRow(list, template) {
    var key;
    do {
      counter += 1;
      key = "j" + counter;
    } while (list.querySelector('[data-row="' + key + '"]'));
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__key__/g, key);
    var row = holder.firstElementChild;
    list.appendChild(row);
    renumber(list);
    var first = row.querySelector("input:not([type=hidden])");
    if (first) first.focus();
  }

  function removeRow(list, key, form) {
    var row = list.querySelector('[data-row="' + key + '"]');
    if (!row) return;
    var rows = list.querySelectorAll("[data-row]");
    if (rows.length === 1) {
      // the last row is emptied rather than removed: there is always one to fill in
      Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
        if (input.type === "checkbox") input.checked = false;
        else if (input.type !== "hidden") input.value = "";
      });
      return;
    }
    row.remove();
    renumber(list);
    var add = form.querySelector("[data-add-row]");
    if (add) add.focus();
  }

  function showMode(form) {
    var chosen = form.querySelector("[data-mode]:checked");
    var mode = chosen ? chosen.value : "form";
    Array.prototype.forEach.call(form.querySelectorAll("[data-mode-section]"), function (s) {
      s.hidden = s.getAttribute("data-mode-section") !== mode;
    });
  }

  function preview(form, result) {
    var data = new FormData(form);
    data.set("action", "preview");
    result.setAttribute("aria-busy", "true");
    // form.action would be the buttons named "action": the attribute is the address
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      headers: { "X-Requested-With": "console" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status === 401) return "<p class=\"alert alert-error\" role=\"alert\">"
        + "Your login has ended: reload the page to log in again.</p>";
      if (!response.ok && response.status !== 422) return null;
      return response.text();
    }).then(function (html) {
      if (html === null) {
        result.textContent = "The preview could not be made: try again.";
      } else {
        result.innerHTML = html;
      }
    }).catch(function () {
      result.textContent = "The preview could not be made (no answer from the server): try again.";
    }).then(function () {
      result.removeAttribute("aria-busy");
    });
  }

  function wire() {
    var form = document.querySelector("[data-tariff-editor]");
    if (!form) return;
    var list = form.querySelector("[data-rows]");
    var template = document.getElementById("row-template");
    var result = form.querySelector("[data-preview]");
    showMode(form);
    Array.prototype.forEach.call(form.querySelectorAll("[data-mode]"), function (radio) {
      radio.addEventListener("change", function () { showMode(form); });
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button[name=action]");
      if (!button) return;
      var action = button.value;
      if (action === "add" && list && template) {
        event.preventDefault();
        addRow(list, template);
      } else if (action.indexOf("remove:") === 0 && list) {
        event.preventDefault();
        removeRow(list, action.slice("remove:".length), form);
      } else if (action === "preview" && result && window.fetch) {
        event.preventDefault();
        preview(form, result);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", wire);
})();
