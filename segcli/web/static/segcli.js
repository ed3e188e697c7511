// The appliance's own script (no library, nothing from the internet): typing a custom
// intake address selects "Custom Message Intake Address".
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var custom = document.getElementById("custom_address");
  var radio = document.getElementById("mode-custom");
  if (custom && radio) {
    custom.addEventListener("input", function () { radio.checked = true; });
  }
});
