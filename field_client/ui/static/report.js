/* The service report prints itself (or saves as PDF) from the browser's own dialog. */
(function () {
  "use strict";
  var button = document.getElementById("print-report");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
