// Report job progress (R.ASYNC): poll the job's status and update the bar;
// reload once the job has finished so the download link appears.
// Loaded as a file (script-src 'self'), no inline script.
(function () {
  "use strict";
  var box = document.getElementById("reportjob-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = box.querySelector(".reportjob-bar");
  var label = box.querySelector(".reportjob-status");
  var percent = box.querySelector(".reportjob-percent");
  var error = box.querySelector(".reportjob-error");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (job) {
        bar.value = job.percent;
        percent.textContent = job.percent + "%";
        label.textContent = job.label;
        if (job.error) { error.textContent = job.error; error.hidden = false; }
        if (job.status === "done" || job.status === "failed") {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
