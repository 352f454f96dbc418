// npes portal: passkeys (WebAuthn). The only script of the portal; no build
// step. Each passkey form starts hidden and is shown here when the browser
// has WebAuthn. A form's data-options URL returns {ceremony, options}
// (go-webauthn's CredentialCreation or CredentialAssertion, base64url
// members); the browser's answer is posted as JSON to data-finish, which
// answers {redirect} or {error}.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the <noscript>-like texts stay; the forms stay hidden
  }

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return pk;
  }

  function requestOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return pk;
  }

  // credentialJSON is the browser's answer in the JSON form of WebAuthn
  // L3 §5.1 (toJSON), which go-webauthn parses.
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
    }
    return out;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
        return data;
      });
    });
  }

  function showError(form, err) {
    var el = form.querySelector(".passkey-error");
    if (!el) return;
    // A cancelled or timed-out prompt is NotAllowedError: say so plainly.
    el.textContent = err && err.name === "NotAllowedError" && form.dataset.cancelled
      ? form.dataset.cancelled : String(err && err.message || err);
    el.hidden = false;
    el.setAttribute("tabindex", "-1");
    el.focus();
  }

  function busy(form, on) {
    form.querySelectorAll("button").forEach(function (b) { b.disabled = on; });
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  function run(form, start, finish) {
    var err = form.querySelector(".passkey-error");
    if (err) err.hidden = true;
    busy(form, true);
    start().then(finish).then(function (data) {
      if (data && data.redirect) window.location.assign(data.redirect);
      else busy(form, false);
    }).catch(function (e) {
      busy(form, false);
      showError(form, e);
    });
  }

  // Sign in with any passkey bound to a mailbox (discoverable).
  document.querySelectorAll("form.passkey-signin").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      run(form, function () {
        return post(form.dataset.options).then(function (o) {
          return navigator.credentials.get({ publicKey: requestOptions(o.options.publicKey) });
        });
      }, function (cred) {
        return post(form.dataset.finish, credentialJSON(cred));
      });
    });
  });

  // Make a passkey for a mailbox; the page then asks for its endorsement.
  document.querySelectorAll("form.passkey-register").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var ceremony;
      run(form, function () {
        return post(form.dataset.options).then(function (o) {
          ceremony = o.ceremony;
          return navigator.credentials.create({ publicKey: creationOptions(o.options.publicKey) });
        });
      }, function (cred) {
        return post(form.dataset.finish, {
          ceremony: ceremony, label: form.elements.label.value, credential: credentialJSON(cred)
        });
      });
    });
  });

  // Accept or refuse a registered letter: the server builds the statement;
  // its SHA-256 is the challenge the passkey signs.
  document.querySelectorAll("form.passkey-decide").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var decision = ev.submitter ? ev.submitter.value : "accept";
      var chosen = form.querySelector("input[name=credential_id]:checked") ||
        form.querySelector("input[type=hidden][name=credential_id]");
      var ceremony;
      run(form, function () {
        return post(form.dataset.options, {
          decision: decision, reason: form.elements.reason ? form.elements.reason.value : "",
          credential_id: chosen ? chosen.value : ""
        }).then(function (o) {
          ceremony = o.ceremony;
          return navigator.credentials.get({ publicKey: requestOptions(o.options.publicKey) });
        });
      }, function (cred) {
        return post(form.dataset.finish, { ceremony: ceremony, credential: credentialJSON(cred) });
      });
    });
  });
})();
