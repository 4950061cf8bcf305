"""plex.tv's sign-in page (``/auth``): one button per account approves the pin whose code is in
the URL fragment; Cancel leaves it unapproved."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from medianest.simulators.plex.state import sim_of


async def auth_page(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        accounts = sorted(sim.accounts.values(), key=lambda a: a.id)
    buttons = "\n".join(
        f'      <button type="button" class="account" id="approve-{html.escape(a.username)}" '
        f'data-user="{html.escape(a.username)}">Continue as {html.escape(a.title)}</button>'
        for a in accounts
    )
    return HTMLResponse(_AUTH_PAGE.replace("{{BUTTONS}}", buttons))


_AUTH_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Plex (simulated sign-in)</title>
  <style>
    body { font-family: system-ui, sans-serif; background: #1f2326; color: #eee; display: flex;
           justify-content: center; padding-top: 10vh; margin: 0; }
    main { background: #2b3035; padding: 2rem; border-radius: 8px; width: min(24rem, 90vw); }
    h1 { font-size: 1.2rem; margin-top: 0; }
    button { display: block; width: 100%; margin: .5rem 0; padding: .7rem; font-size: 1rem;
             border: 0; border-radius: 4px; cursor: pointer; }
    button.account { background: #e5a00d; color: #1f2326; }
    button#deny { background: transparent; color: #eee; border: 1px solid #888; }
    .note { color: #aaa; font-size: .85rem; }
    #message { font-size: 1.05rem; }
  </style>
</head>
<body>
  <main>
    <h1 id="heading">Sign in to Plex to continue to <span id="product">an app</span></h1>
    <p id="message" role="status">Checking your sign-in code&hellip;</p>
    <div id="choices" hidden>
{{BUTTONS}}
      <button type="button" id="deny">Cancel</button>
    </div>
    <p class="note">This is the MediaNest Plex simulator, not the real plex.tv.</p>
  </main>
  <script>
  (function () {
    "use strict";
    // The parameters live in the fragment, so a new link opened in this tab would
    // not reload the page by itself.
    window.addEventListener("hashchange", function () { window.location.reload(); });
    var fragment = window.location.hash.replace(/^#!?/, "").replace(/^\\?/, "");
    var params = new URLSearchParams(fragment);
    var code = params.get("code");
    var product = params.get("context[device][product]");
    var forwardUrl = params.get("forwardUrl");
    var message = document.getElementById("message");
    var choices = document.getElementById("choices");
    if (product) { document.getElementById("product").textContent = product; }

    function finish(text) {
      choices.hidden = true;
      message.textContent = text;
    }
    function fail(text) {
      finish(text);
      message.setAttribute("data-state", "error");
    }
    function post(path, payload) {
      return fetch(path, {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(payload || {})
      });
    }
    if (!code) {
      fail("This sign-in link has no code. Start the sign-in again from the app.");
      return;
    }
    var base = "/__sim__/pins/by-code/" + encodeURIComponent(code);
    fetch(base).then(function (response) {
      if (!response.ok) { throw new Error("unknown code"); }
      message.textContent = "Choose the Plex account to sign in with.";
      choices.hidden = false;
    }).catch(function () {
      fail("This sign-in code is unknown or has expired. Start the sign-in again from the app.");
    });
    Array.prototype.forEach.call(document.querySelectorAll("button[data-user]"), function (button) {
      button.addEventListener("click", function () {
        post(base + "/approve", {user: button.getAttribute("data-user")}).then(function (response) {
          if (!response.ok) { throw new Error("approve failed"); }
          // Only follow http(s) targets: forwardUrl comes from the link, not from us.
          if (forwardUrl && /^https?:\\/\\//i.test(forwardUrl)) {
            window.location.assign(forwardUrl);
          } else {
            finish("You can close this window now.");
          }
        }).catch(function () {
          fail("This sign-in code is unknown or has expired. Start the sign-in again from the app.");
        });
      });
    });
    document.getElementById("deny").addEventListener("click", function () {
      post(base + "/deny").finally(function () {
        finish("Sign-in cancelled. You can close this window now.");
      });
    });
  })();
  </script>
</body>
</html>
"""
