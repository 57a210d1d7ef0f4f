/* Report pages: the print button, and the progress of an export job (polls its JSON status URL;
   no inline script, the CSP allows only files from this origin). */
(function () {
  "use strict";
  var POLL_MS = 1000;

  document.querySelectorAll(".print-button").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  var box = document.getElementById("export-job");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("job-progress");
  var percent = document.getElementById("job-percent");
  var rows = document.getElementById("job-rows");
  var state = document.getElementById("job-state");

  function show(id, visible) {
    var element = document.getElementById(id);
    if (element) { element.hidden = !visible; }
  }

  function render(status) {
    bar.value = status.progress;
    bar.textContent = status.progress + "%";
    percent.textContent = status.progress + "%";
    state.textContent = status.state_display;
    state.className = "status job-" + status.state;
    if (status.rows_total === null) {
      rows.textContent = box.getAttribute("data-text-counting");
    } else {
      rows.textContent = box.getAttribute("data-text-rows")
        .replace("{written}", status.rows_written.toLocaleString("zh-CN"))
        .replace("{total}", status.rows_total.toLocaleString("zh-CN"));
    }
    if (status.state === "failed") {
      document.getElementById("job-error-text").textContent = status.error;
    }
    show("job-error", status.state === "failed");
    show("job-download", status.state === "done");
    show("job-waiting", !status.finished);
    if (status.download_url) {
      document.getElementById("job-download-link").href = status.download_url;
    }
    box.setAttribute("data-state", status.state);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (status) { render(status); }
        if (!status || !status.finished) { window.setTimeout(poll, POLL_MS); }
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 5); });
  }

  if (box.getAttribute("data-state") !== "done" && box.getAttribute("data-state") !== "failed") {
    poll();
  }
})();
