/* Claim form: hide field groups that do not apply to the chosen type. Without this
   script every group stays visible with its hint, and the server ignores what does
   not apply. */
(function () {
  "use strict";
  var form = document.querySelector("form.claim-form");
  if (!form) { return; }
  var type = form.querySelector("select[name=type]");
  var groups = form.querySelectorAll("[data-types]");
  function update() {
    var chosen = type.value;
    for (var i = 0; i < groups.length; i++) {
      var types = groups[i].getAttribute("data-types").split(" ");
      groups[i].hidden = types.indexOf(chosen) === -1;
    }
  }
  type.addEventListener("change", update);
  update();
}());
