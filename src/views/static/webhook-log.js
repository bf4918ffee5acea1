// Live delivery log: follows the page's server-sent event stream and applies the same
// {op, list, target, html} frames as live.js. Newest rows go first; the list keeps 200 rows.
(function () {
  "use strict";
  var main = document.querySelector("[data-log-stream]");
  if (!main || !("EventSource" in window)) return;
  var status = document.querySelector("[data-live-status]");
  var list = document.querySelector('[data-live-list="deliveries"]');
  var empty = document.querySelector("[data-live-empty]");

  function setStatus(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function apply(msg) {
    if (msg.op !== "upsert" || !msg.html || !list) return;
    var holder = document.createElement("tbody");
    holder.innerHTML = msg.html;
    var node = holder.firstElementChild;
    if (!node) return;
    node.classList.add("flash-new");
    var existing = msg.target ? document.getElementById(msg.target) : null;
    if (existing) existing.replaceWith(node);
    else list.insertBefore(node, list.firstChild);
    while (list.children.length > 200) list.removeChild(list.lastChild);
    if (empty) empty.hidden = list.children.length > 0;
  }

  var source = new EventSource(main.getAttribute("data-log-stream"));
  source.onopen = function () { setStatus("live", "Live"); };
  source.onmessage = function (e) {
    try { apply(JSON.parse(e.data)); } catch (_) { /* ignore a malformed frame */ }
  };
  source.addEventListener("expired", function () {
    source.close();
    setStatus("offline", "This link has expired; ask for a new one.");
  });
  source.onerror = function () { setStatus("offline", "Reconnecting…"); };
})();
