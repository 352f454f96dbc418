// The organization console's batch page: while the batch runs, reload the
// page every two seconds so its progress and report stay current. Without
// JavaScript the page's Refresh link does the same.
(function () {
  "use strict";
  var batch = document.getElementById("batch");
  if (!batch || batch.getAttribute("data-state") !== "running") {
    return;
  }
  window.setTimeout(function () { window.location.reload(); }, 2000);
})();
