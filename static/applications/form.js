/* The application form (templates/applications/submission_section.html), progressively enhanced.
 *
 * Without this script the form still works: "保存草稿" posts the section, the server stores what
 * was typed and shows the messages. With it:
 * - character counters ("123 / 300 字") count as the server does (code points of the trimmed text)
 *   and turn red over the limit;
 * - rows of free tables are added and removed in place; "采用测得值" fills the measured figure in;
 * - htmx posts the section on change (debounced, hx-trigger on the form) and swaps in the status;
 * - nothing typed is lost on a session timeout: every edit is kept in localStorage under the
 *   submission and section, cleared only once the server confirms a save (header X-Draft-Saved);
 *   when the page opens with a kept copy that differs from what the server has (the POST met a
 *   login redirect or a 403), the copy is put back into the form, with a notice.
 */
(function () {
  "use strict";

  var form = document.getElementById("section-form");
  if (!form) { return; }
  var storageKey = form.dataset.storageKey;
  var SKIPPED = { csrfmiddlewaretoken: true, __present: true, adopt: true, next_section: true };
  var SAVED_HEADER = "X-Draft-Saved";

  // --- what the form holds, as {name: [values]} -------------------------------------------------
  function snapshot() {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIPPED[el.name] || el.disabled || el.type === "submit" || el.type === "button") { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) {
        if (!(el.name in values)) { values[el.name] = []; }
        return;
      }
      (values[el.name] = values[el.name] || []).push(el.value);
    });
    return values;
  }

  function canonical(values) {
    var keys = Object.keys(values).sort();
    return JSON.stringify(keys.map(function (key) { return [key, values[key]]; }));
  }

  function readKept() {
    try {
      var raw = window.localStorage.getItem(storageKey);
      return raw ? JSON.parse(raw) : null;
    } catch (error) {
      return null;
    }
  }

  function keep() {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify({ at: new Date().toISOString(), values: snapshot() }));
    } catch (error) { /* storage full or disabled: the server copy is all there is */ }
  }

  function forget() {
    try { window.localStorage.removeItem(storageKey); } catch (error) { /* nothing kept */ }
  }

  // --- character counters ---------------------------------------------------------------------
  function characters(text) { return Array.from(text.trim()).length; }

  function updateCounter(el) {
    var counter = document.getElementById("count-" + el.id);
    if (!counter || !el.dataset.limit) { return; }
    var limit = parseInt(el.dataset.limit, 10);
    var count = characters(el.value);
    counter.textContent = counter.textContent.replace(/^\s*\d+\s*\/\s*\d+/, count + " / " + limit);
    counter.classList.toggle("over", count > limit);
  }

  function updateCounters() {
    form.querySelectorAll("textarea[data-limit]").forEach(updateCounter);
  }

  // --- free tables: add and remove rows ---------------------------------------------------------
  function nextIndex(table) {
    var highest = -1;
    table.querySelectorAll("tbody tr[data-row]").forEach(function (row) {
      var index = parseInt(row.dataset.row, 10);
      if (!isNaN(index) && index > highest) { highest = index; }
    });
    return highest + 1;
  }

  function addRow(tableKey, index) {
    var template = document.getElementById("row-template-" + tableKey);
    var table = document.getElementById("table-" + tableKey);
    if (!template || !table) { return null; }
    var at = index === undefined ? nextIndex(table) : index;
    var html = template.innerHTML.split("__row__").join(String(at));
    var body = table.querySelector("tbody");
    body.insertAdjacentHTML("beforeend", html);
    var row = body.lastElementChild;
    var label = row.querySelector(".row-label");
    if (label) { label.textContent = String(body.querySelectorAll("tr[data-row]").length); }
    enhanceRow(row);
    return row;
  }

  function enhanceRow(row) {
    var box = row.querySelector(".delete-box");
    var button = row.querySelector(".remove-row");
    if (box && button) {
      box.hidden = true;
      button.hidden = false;
    }
  }

  function removeRow(button) {
    var row = button.closest("tr");
    if (!row) { return; }
    row.remove();
    keep();
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // --- restore what was kept --------------------------------------------------------------------
  function ensureRows(values) {
    Object.keys(values).forEach(function (name) {
      var match = /^([a-z][a-z0-9_]*)\.(\d+)\./.exec(name);
      if (!match || form.querySelector('[name="' + CSS.escape(name) + '"]')) { return; }
      if (document.getElementById("row-template-" + match[1])) { addRow(match[1], parseInt(match[2], 10)); }
    });
  }

  function apply(values) {
    ensureRows(values);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIPPED[el.name] || !(el.name in values) || el.type === "submit" || el.type === "button") { return; }
      var wanted = values[el.name];
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = wanted.indexOf(el.value) !== -1;
      } else {
        // Same-named inputs (none today) would take their values in order.
        var same = form.querySelectorAll('[name="' + CSS.escape(el.name) + '"]');
        var position = Array.prototype.indexOf.call(same, el);
        el.value = wanted[position] !== undefined ? wanted[position] : "";
      }
    });
    updateCounters();
  }

  var serverValues = snapshot();

  function restoreIfKept() {
    var kept = readKept();
    if (!kept || !kept.values) { return; }
    if (canonical(kept.values) === canonical(serverValues)) {
      forget();  // the server has exactly this: the last save went through
      return;
    }
    apply(kept.values);
    var notice = document.getElementById("restore-notice");
    if (notice) {
      var when = new Date(kept.at);
      var time = isNaN(when) ? "" : when.toLocaleString("zh-CN", { hour12: false });
      notice.querySelector(".text").textContent = form.dataset.restoredText.replace("%(time)s", time);
      notice.hidden = false;
    }
  }

  // --- wiring -----------------------------------------------------------------------------------
  form.querySelectorAll(".add-row").forEach(function (button) { button.hidden = false; });
  form.querySelectorAll(".no-script-hint").forEach(function (hint) { hint.hidden = true; });
  form.querySelectorAll("tbody tr[data-row]").forEach(enhanceRow);
  updateCounters();
  restoreIfKept();

  form.addEventListener("input", function (event) {
    if (event.target.matches("textarea[data-limit]")) { updateCounter(event.target); }
    keep();
  });
  form.addEventListener("change", keep);
  form.addEventListener("submit", keep);

  form.addEventListener("click", function (event) {
    var target = event.target;
    if (target.matches(".add-row")) {
      var max = parseInt(target.dataset.max || "0", 10);
      var table = document.getElementById("table-" + target.dataset.table);
      if (max && table && table.querySelectorAll("tbody tr[data-row]").length >= max) { return; }
      var row = addRow(target.dataset.table);
      var first = row && row.querySelector("input, textarea");
      if (first) { first.focus(); }
    } else if (target.matches(".remove-row")) {
      removeRow(target);
    } else if (target.matches(".adopt")) {
      var input = document.getElementById(target.dataset.target);
      if (input) {
        event.preventDefault();
        input.value = target.dataset.value;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  });

  var discard = document.getElementById("restore-discard");
  if (discard) {
    discard.addEventListener("click", function () {
      forget();
      apply(serverValues);
      document.getElementById("restore-notice").hidden = true;
    });
  }

  // Autosave answers: only one the server marks as saved is swapped in and clears the kept copy.
  var sent = null;
  var failed = document.getElementById("autosave-failed");
  var saveState = document.getElementById("save-state");
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt === form) { sent = snapshot(); }
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.elt !== form) { return; }
    if (!event.detail.xhr.getResponseHeader(SAVED_HEADER)) { event.detail.shouldSwap = false; }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt !== form) { return; }
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader(SAVED_HEADER)) {
      failed.hidden = true;
      if (sent) { serverValues = sent; }
      // Cleared only when nothing was typed since this save left: newer edits are still unsaved.
      if (sent && canonical(sent) === canonical(snapshot())) { forget(); }
      if (saveState) { saveState.textContent = saveState.dataset.savedText || saveState.textContent; }
    } else {
      keep();
      failed.hidden = false;
    }
  });
})();
