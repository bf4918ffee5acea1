// Passkeys: registration on the security page and usernameless sign-in on the login page.
// The server sends WebAuthn options as JSON with base64url binary fields; this converts them to
// the ArrayBuffers the browser API wants, and the browser's answer back. No other dependencies.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function fromB64(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error(json.error || "The request failed.");
        return json;
      });
    });
  }
  function show(el, message) {
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  }

  var signIn = document.querySelector("[data-passkey-signin]");
  if (signIn) {
    var signInError = document.querySelector("[data-passkey-error]");
    signIn.hidden = false;
    signIn.addEventListener("click", function () {
      show(signInError, "");
      var csrf = signIn.getAttribute("data-csrf");
      post("/a/auth/passkey/start", csrf).then(function (start) {
        var pk = start.options.publicKey;
        pk.challenge = fromB64(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
        return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
          return post("/a/auth/passkey/finish", csrf, {
            ceremony_id: start.ceremony_id,
            request: signIn.getAttribute("data-request") || null,
            return_to: signIn.getAttribute("data-return-to") || null,
            credential: {
              id: cred.id, rawId: toB64(cred.rawId), type: cred.type, extensions: {},
              response: {
                authenticatorData: toB64(cred.response.authenticatorData),
                clientDataJSON: toB64(cred.response.clientDataJSON),
                signature: toB64(cred.response.signature),
                userHandle: cred.response.userHandle ? toB64(cred.response.userHandle) : null
              }
            }
          });
        });
      }).then(function (done) { window.location.assign(done.location); })
        .catch(function (e) { show(signInError, e.message || "Signing in with a passkey did not work."); });
    });
  }

  var register = document.querySelector("[data-passkey-register]");
  if (register) {
    var form = register.closest("form");
    var regError = document.querySelector("[data-passkey-register-error]");
    register.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      show(regError, "");
      var csrf = register.getAttribute("data-csrf");
      var name = form.querySelector("[name=name]").value;
      post("/ui/security/passkeys/register/start", csrf).then(function (start) {
        var pk = start.options.publicKey;
        pk.challenge = fromB64(pk.challenge);
        pk.user.id = fromB64(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          return post("/ui/security/passkeys/register/finish", csrf, {
            ceremony_id: start.ceremony_id,
            name: name,
            credential: {
              id: cred.id, rawId: toB64(cred.rawId), type: cred.type, extensions: {},
              response: {
                attestationObject: toB64(cred.response.attestationObject),
                clientDataJSON: toB64(cred.response.clientDataJSON)
              }
            }
          });
        });
      }).then(function () { window.location.assign("/ui/security?done=passkey"); })
        .catch(function (e) { show(regError, e.message || "Adding the passkey did not work."); });
    });
  }
})();
