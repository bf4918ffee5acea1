// Copy buttons on the domains widget. Without this script the record's name and value are plain,
// selectable text and the buttons stay hidden; rows pushed live get their buttons shown too.
(function () {
  "use strict";
  if (!navigator.clipboard || !window.MutationObserver) return;

  function reveal() {
    var buttons = document.querySelectorAll("button[data-copy][hidden]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      button.textContent = "Select and copy it by hand";
    });
  });

  reveal();
  new MutationObserver(reveal).observe(document.body, { childList: true, subtree: true });
})();
