/* fieldsync laptop app: the few things a page cannot do without a script.
   No inline script anywhere (the CSP forbids it): everything hangs off ids and data- attributes. */
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf");

  /* The header strip (online, pending, last sync) and the sync page's progress. */
  var status = document.getElementById("status");
  var syncState = document.getElementById("sync-state");
  var runsSeen = syncState ? Number(syncState.getAttribute("data-runs")) : null;
  var wasRunning = syncState ? syncState.getAttribute("data-running") === "yes" : false;
  function poll() {
    fetch(status.getAttribute("data-poll"), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        status.innerHTML = s.status_html;
        if (syncState) {
          syncState.innerHTML = s.sync_html;
          syncState.setAttribute("data-running", s.running ? "yes" : "no");
          var button = document.getElementById("sync-button");
          if (button) { button.disabled = s.running; }
          if (wasRunning && !s.running && s.runs !== runsSeen) { window.location.reload(); return; }
          wasRunning = s.running;
        }
        setTimeout(poll, s.running ? 500 : 5000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (status) { setTimeout(poll, syncState && wasRunning ? 300 : 1500); }

  /* Backup: the laptop hashes the chosen file as the browser streams it (any size). */
  var hashButton = document.getElementById("hash-button");
  if (hashButton) {
    hashButton.addEventListener("click", function () {
      var input = document.getElementById("backup-file");
      if (!input.files.length) { input.focus(); return; }
      var box = hashButton.closest(".hashbox");
      var progress = document.getElementById("hash-progress");
      progress.hidden = false;
      hashButton.disabled = true;
      fetch(box.getAttribute("data-hash-url"), {method: "POST", body: input.files[0], credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}})
        .then(function (r) { return r.json(); })
        .then(function (h) {
          document.getElementById("backup-sha256").value = h.sha256;
          document.getElementById("backup-size").value = h.size;
          progress.hidden = true;
          hashButton.disabled = false;
          document.getElementById("backup-sha256").focus();
        })
        .catch(function () { progress.hidden = true; hashButton.disabled = false; });
    });
  }

  /* Photos: a file, or a frame from the laptop camera put into the same file field. */
  var cameraStart = document.getElementById("camera-start");
  if (cameraStart && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    var stream = null;
    var stateLine = document.getElementById("camera-state");
    cameraStart.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({video: true}).then(function (s) {
        stream = s;
        var video = document.getElementById("camera-view");
        video.srcObject = s;
        video.closest(".camera").hidden = false;
        cameraStart.hidden = true;
      }).catch(function () {
        stateLine.textContent = stateLine.getAttribute("data-failed");
        stateLine.hidden = false;
      });
    });
    document.getElementById("camera-shoot").addEventListener("click", function () {
      var video = document.getElementById("camera-view");
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth || 640;
      canvas.height = video.videoHeight || 480;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        var transfer = new DataTransfer();
        transfer.items.add(new File([blob], "camera.jpg", {type: "image/jpeg"}));
        document.getElementById("photo-file").files = transfer.files;
        if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
        video.closest(".camera").hidden = true;
        cameraStart.hidden = false;
        stateLine.textContent = stateLine.getAttribute("data-taken");
        stateLine.hidden = false;
      }, "image/jpeg", 0.9);
    });
  } else if (cameraStart) {
    cameraStart.hidden = true;
  }
})();
