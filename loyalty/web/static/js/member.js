// Member page: a form marked data-once sends once; its buttons wait for the answer.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once") || event.defaultPrevented) return;
    if (form.getAttribute("data-sent") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "1");
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.setAttribute("aria-busy", "true");
    });
  });
})();
