/* The customer signs on a signature_pad (vendored, MIT): pointer events for mouse, touchpad,
   pen and finger, smoothing, clear. An empty pad or a dot is refused here and again by the
   laptop, which reads the PNG itself. */
(function () {
  "use strict";
  var canvas = document.getElementById("signature-pad");
  if (!canvas || typeof SignaturePad === "undefined") { return; }
  var pad = new SignaturePad(canvas, {penColor: "rgb(11, 31, 102)", minWidth: 1.2, maxWidth: 3.2});
  var problem = document.getElementById("pad-problem");

  function fit() {
    var data = pad.toData();
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    pad.fromData(data);
  }
  window.addEventListener("resize", fit);
  fit();

  function extent() {
    var xs = [], ys = [];
    pad.toData().forEach(function (stroke) {
      stroke.points.forEach(function (p) { xs.push(p.x); ys.push(p.y); });
    });
    if (!xs.length) { return 0; }
    return Math.max(Math.max.apply(null, xs) - Math.min.apply(null, xs),
                    Math.max.apply(null, ys) - Math.min.apply(null, ys));
  }

  document.getElementById("clear-pad").addEventListener("click", function () {
    pad.clear();
    problem.hidden = true;
  });
  pad.addEventListener("beginStroke", function () { problem.hidden = true; });

  document.getElementById("sign-form").addEventListener("submit", function (event) {
    var say = null;
    if (pad.isEmpty()) {
      say = problem.getAttribute("data-empty");
    } else if (extent() < Math.max(10, 0.05 * canvas.offsetWidth)) {
      say = problem.getAttribute("data-dot");
    }
    if (say) {
      event.preventDefault();
      problem.textContent = say;
      problem.hidden = false;
      return;
    }
    document.getElementById("signature-data").value = pad.toDataURL("image/png");
  });
})();
