"""No credential reaches the server's log: a session JWT, a PIN cookie, the Overseerr API key and
a Plex token pushed through the paths that log (an event no handler knows, a handler that fails,
a failed upstream call) never show up in what the production stack wrote."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid

import httpx
import socketio
from playwright.sync_api import expect

from medianest.launcher import OVERSEERR_API_KEY
from medianest.state import SessionState
from tests.e2e.conftest import BREAKER_RESET_S, STACK, setup_household
from tests.e2e.test_handler_authorization import NAMESPACE

PLEX_TOKEN = "sim-alice-token"  # the household owner's token (simulators/plex.py fixtures)


async def _push(url: str, headers: dict[str, str], events: list[tuple[str, dict]]) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(f"{url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                         headers={"Origin": url, **headers}, namespaces=[NAMESPACE])
    try:
        for name, payload in events:
            await client.emit("event", {"name": name, "payload": payload,
                                        "router_data": {"pathname": "/", "query": {}, "asPath": "/"}},
                              namespace=NAMESPACE)
            await asyncio.sleep(1.5)
    finally:
        await client.disconnect()


def push(url: str, headers: dict[str, str], events: list[tuple[str, dict]]) -> None:
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(done=asyncio.run(_push(url, headers, events))))
    thread.start()
    thread.join(120)
    assert "done" in box


def _server_logs() -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(STACK.log_dir.glob("*.log")))


def test_no_credential_reaches_the_server_log(journeys, app_url, plex_sims):
    alice = journeys()
    setup_household(alice)
    session_jwt = alice.session_cookie()["value"]
    started = httpx.get(f"{app_url}/auth/plex/start", follow_redirects=False)
    pin_cookie = started.cookies["mn_pin"]
    assert session_jwt.startswith("eyJ") and pin_cookie.startswith("eyJ")
    marker = f"stale_handler_{uuid.uuid4().hex[:8]}"
    credentials = {"Cookie": f"mn_session={session_jwt}; mn_pin={pin_cookie}",
                   "Authorization": f"Bearer {session_jwt}", "X-Plex-Token": PLEX_TOKEN,
                   "X-Api-Key": OVERSEERR_API_KEY}
    state = SessionState.get_full_name()
    push(app_url, credentials, [
        # A stale frontend after an upgrade: Reflex logs the whole event, headers included.
        (f"{state}.{marker}", {"note": marker, "api_key": OVERSEERR_API_KEY, "token": PLEX_TOKEN}),
        (f"{state.rsplit('.', 1)[0]}.no_such_state.{marker}", {"cookie": f"mn_session={session_jwt}"}),
        # A handler that fails on the client's input: the traceback carries that input.
        (f"{state}.setvar", {"var_name": f"{marker} {OVERSEERR_API_KEY} {session_jwt} X-Plex-Token={PLEX_TOKEN}",
                             "value": pin_cookie}),
    ])
    # A failed upstream call: plex.tv fails while the PIN is polled with the cookie above.
    plex_sims.sim.set_faults("plex_tv", status=503)
    try:
        page = alice.context.new_page()
        alice.context.add_cookies([{"name": "mn_pin", "value": pin_cookie, "url": app_url}])
        page.goto("/auth/plex/callback")
        expect(page.locator("#callback-message")).to_contain_text("Plex is not answering", timeout=30_000)
    finally:
        plex_sims.sim.clear_faults()
    # Let the processes flush their last lines, and the plex.tv breaker this opened close again
    # (the next journey's setup page lists the servers from plex.tv).
    time.sleep(BREAKER_RESET_S + 1)

    logs = _server_logs()
    # Rich wraps long lines: look for each secret in the text with the line breaks taken out too.
    joined = re.sub(r"\s+", "", logs)
    assert marker in logs, "the unknown event was not logged at all: the test proves nothing"
    assert "polling plex.tv failed" in logs
    for name, secret in {"session JWT": session_jwt, "PIN cookie": pin_cookie,
                         "Overseerr API key": OVERSEERR_API_KEY, "Plex token": PLEX_TOKEN}.items():
        leaked = [line[:300] for line in logs.splitlines() if secret in line]
        assert not leaked and secret not in joined, f"the {name} is in the server log: {leaked[:3]}"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.", joined), "a JWT-shaped value is in the log"
