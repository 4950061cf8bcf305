"""No credential reaches the server's log: a session JWT, a PIN cookie, the Overseerr API key and
a Plex token pushed through the paths that log (an event no handler knows, a handler that fails,
a failed upstream call) never show up in what the production stack wrote."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid

import httpx
import redis.asyncio as aioredis
import socketio
from playwright.sync_api import expect

from medianest import breaker_sync
from medianest.integrations.plex import PlexTvClient
from medianest.launcher import OVERSEERR_API_KEY
from medianest.state import SessionState
from tests.e2e.conftest import STACK, setup_household
from tests.e2e.test_handler_authorization import NAMESPACE

PLEX_TOKEN = "sim-alice-token"  # the household owner's token (simulators/plex.py fixtures)


async def _push(url: str, headers: dict[str, str], events: list[tuple[str, dict]], *, then: str,
                answered) -> None:
    """Send ``events`` on one socket, then the event ``then``; return once ``answered(updates)``
    holds for what came back. Reflex takes a socket's events in order (one tab's handlers run one
    after the other), so by then the server has handled, and logged, every event before it."""
    client = socketio.AsyncClient(reconnection=False)
    updates: list[dict] = []
    client.on("event", updates.append, namespace=NAMESPACE)
    await client.connect(f"{url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                         headers={"Origin": url, **headers}, namespaces=[NAMESPACE])
    try:
        for name, payload in [*events, (then, {})]:
            await client.emit("event", {"name": name, "payload": payload,
                                        "router_data": {"pathname": "/", "query": {}, "asPath": "/"}},
                              namespace=NAMESPACE)
        deadline = asyncio.get_running_loop().time() + 30
        while not answered(updates):
            assert asyncio.get_running_loop().time() < deadline, f"{then} was never answered: {updates[-5:]}"
            await asyncio.sleep(0.05)
    finally:
        await client.disconnect()


def push(url: str, headers: dict[str, str], events: list[tuple[str, dict]], *, then: str, answered) -> None:
    box: dict = {}

    def run() -> None:
        try:
            box["done"] = asyncio.run(_push(url, headers, events, then=then, answered=answered))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in box:
        raise box["error"]
    assert "done" in box


def reset_breaker_everywhere(redis_url: str, service: str) -> None:
    """What the admin's Reset on Admin → System does: close ``service``'s breaker in every process."""
    async def reset() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            outcome = await breaker_sync.request_reset(client, service)
        finally:
            await client.aclose()
        assert not outcome.waiting, f"not every process reset its {service} breaker: {outcome}"

    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(done=asyncio.run(reset())))
    thread.start()
    thread.join(30)
    assert "done" in box


def _server_logs() -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(STACK.log_dir.glob("*.log")))


def test_no_credential_reaches_the_server_log(journeys, app_url, plex_sims, private_redis):
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
    ], then=f"{state}.guard", answered=lambda updates: '"alice"' in json.dumps(updates))
    # A failed upstream call: plex.tv fails while the PIN is polled with the cookie above.
    plex_sims.sim.set_faults("plex_tv", status=503)
    try:
        page = alice.context.new_page()
        alice.context.add_cookies([{"name": "mn_pin", "value": pin_cookie, "url": app_url}])
        page.goto("/auth/plex/callback")
        expect(page.locator("#callback-message")).to_contain_text("Plex is not answering", timeout=30_000)
    finally:
        plex_sims.sim.clear_faults()
    # The plex.tv breaker this opened is closed again (the next journey's setup page lists the
    # servers from plex.tv), and the processes have written what the test looks for.
    reset_breaker_everywhere(private_redis.url, PlexTvClient.service)
    deadline = time.monotonic() + 15
    while not (marker in (logs := _server_logs()) and "polling plex.tv failed" in logs):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)

    # Rich wraps long lines: look for each secret in the text with the line breaks taken out too.
    joined = re.sub(r"\s+", "", logs)
    assert marker in logs, "the unknown event was not logged at all: the test proves nothing"
    assert "polling plex.tv failed" in logs
    for name, secret in {"session JWT": session_jwt, "PIN cookie": pin_cookie,
                         "Overseerr API key": OVERSEERR_API_KEY, "Plex token": PLEX_TOKEN}.items():
        leaked = [line[:300] for line in logs.splitlines() if secret in line]
        assert not leaked and secret not in joined, f"the {name} is in the server log: {leaked[:3]}"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.", joined), "a JWT-shaped value is in the log"
