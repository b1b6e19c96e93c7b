// Fault intake: show only the chosen customer's sites and the chosen site's equipment.
(function () {
  "use strict";
  var customer = document.getElementById("customer"), site = document.getElementById("site");
  if (!customer || !site) { return; }
  function filter() {
    Array.prototype.forEach.call(site.options, function (o) {
      o.hidden = !!o.value && !!customer.value && o.dataset.customer !== customer.value;
    });
    if (site.selectedOptions[0] && site.selectedOptions[0].hidden) { site.value = ""; }
    document.querySelectorAll("#equipment [data-site]").forEach(function (label) {
      var show = label.dataset.site === site.value;
      label.hidden = !show;
      if (!show) { label.querySelector("input").checked = false; }
    });
  }
  customer.addEventListener("change", filter);
  site.addEventListener("change", filter);
  filter();
}());
