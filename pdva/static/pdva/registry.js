// Behaviour shared by every staff page. The Content-Security-Policy allows scripts from our static files
// only, so pages carry data-* attributes instead of inline handlers (onclick=...).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var print = e.target.closest && e.target.closest("[data-print]");
    if (print) window.print();
  });
})();
