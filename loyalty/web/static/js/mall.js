// The counter: after every verdict, get ready for the next scan (a scanner types the code and
// presses Enter), or for the order amount when a coupon asks for it.
(function () {
  "use strict";

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.target || event.target.id !== "verdict") return;
    var amount = document.getElementById("amount");
    if (amount) {
      amount.focus();
      amount.select();
      return;
    }
    var code = document.getElementById("code");
    if (code) {
      code.focus();
      code.select();
    }
  });
})();
