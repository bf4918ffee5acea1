// Live updates for widget pages: a WebSocket to /ui/live that applies server-rendered fragments.
// Reconnects with exponential back-off and jitter, resuming from the last sequence seen.
(function () {
  "use strict";
  var body = document.body;
  var widget = body.getAttribute("data-live-widget");
  if (!widget || !("WebSocket" in window)) return;
  var lastSeq = parseInt(body.getAttribute("data-live-seq") || "0", 10);
  var status = document.querySelector("[data-live-status]");
  var attempt = 0;
  var stopped = false;

  function setStatus(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function apply(msg) {
    if (msg.op === "reload") { window.location.reload(); return; }
    if (msg.op === "signout") { stopped = true; window.location.assign(msg.target || "/ui/"); return; }
    var list = msg.list ? document.querySelector('[data-live-list="' + msg.list + '"]') : null;
    var existing = msg.target ? document.getElementById(msg.target) : null;
    if (msg.op === "remove") {
      if (existing) existing.remove();
    } else if (msg.op === "upsert" && msg.html) {
      var holder = document.createElement(list && list.tagName === "TBODY" ? "tbody" : "div");
      holder.innerHTML = msg.html;
      var node = holder.firstElementChild;
      if (!node) return;
      node.classList.add("flash-new");
      if (existing) existing.replaceWith(node);
      else if (list) list.appendChild(node);
    } else if (msg.op === "replace" && msg.html && existing) {
      existing.outerHTML = msg.html;
    }
    var empty = list && list.parentElement ? list.parentElement.parentElement.querySelector("[data-live-empty]") : null;
    if (empty && list) empty.hidden = list.children.length > 0;
  }

  function connect() {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + window.location.host + "/ui/live?widget=" + encodeURIComponent(widget) + "&after=" + lastSeq;
    var ws = new WebSocket(url);
    ws.onopen = function () { attempt = 0; setStatus("live", "Live"); };
    ws.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      if (typeof msg.seq === "number") {
        if (msg.seq <= lastSeq && msg.op !== "signout") return;
        lastSeq = Math.max(lastSeq, msg.seq);
      }
      apply(msg);
      ws.send(JSON.stringify({ ack: lastSeq }));
    };
    ws.onclose = function (e) {
      if (stopped) return;
      // 4001 session ended, 4003 no longer a member, 4004 the role lost this page: say why, then
      // leave (the next page asks to sign in or explains). 4008 (too slow) and others reconnect.
      if (e.code === 4001 || e.code === 4003 || e.code === 4004) {
        stopped = true;
        setStatus("ended", e.reason || "Signed out");
        setTimeout(function () {
          if (e.code === 4004) window.location.reload();
          else window.location.assign("/ui/");
        }, 2500);
        return;
      }
      setStatus("offline", "Reconnecting…");
      var base = Math.min(30000, 500 * Math.pow(2, attempt));
      attempt += 1;
      setTimeout(connect, base / 2 + Math.random() * base / 2);
    };
  }
  connect();
})();
