// What office pages used to do inline (the Content-Security-Policy allows no inline script):
// ask before a destructive form is sent, and print. The confirmation's text is the form's
// data-confirm attribute, read as text: a job number in it is data, never code.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (button) { window.print(); }
  });
}());
