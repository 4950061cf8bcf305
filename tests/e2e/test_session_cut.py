"""Sign-out and suspension cut every open tab of the ended session from the member's live feed,
and a tab that reconnects without a session gets none of the member's data back (Reflex's
built-in hydrate would replay it). Driven with a hand-made socket client, as an attacker would."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
import socketio
from playwright.sync_api import expect

from medianest.pages.admin import AdminUsersState
from medianest.state import SessionState
from tests.conftest import REDIS_PREFIX
from tests.e2e.conftest import setup_household

NAMESPACE = "/_event"
ROUTER = {"pathname": "/", "query": {}, "asPath": "/"}


class Tab:
    """One browser tab: a socket with its own client token and, optionally, the session cookie."""

    def __init__(self, url: str, cookie: str | None, token: str | None = None) -> None:
        self.url, self.cookie, self.token = url, cookie, token or str(uuid.uuid4())
        self.updates: list[dict] = []
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("event", self.updates.append, namespace=NAMESPACE)

    async def open(self) -> Tab:
        headers = {"Origin": self.url, **({"Cookie": f"mn_session={self.cookie}"} if self.cookie else {})}
        await self.client.connect(f"{self.url}?token={self.token}", socketio_path="/_event",
                                  transports=["websocket"], headers=headers, namespaces=[NAMESPACE])
        return self

    async def send(self, name: str, payload: dict | None = None, settle: float = 1.5) -> list[dict]:
        start = len(self.updates)
        await self.client.emit("event", {"name": name, "payload": payload or {}, "router_data": ROUTER},
                               namespace=NAMESPACE)
        await asyncio.sleep(settle)
        return self.updates[start:]

    async def call(self, name: str, payload: dict | None = None, *, until, timeout: float = 15.0) -> list[dict]:
        """Send an event and wait for its answer: until ``until`` holds for what came back since."""
        start = len(self.updates)
        await self.client.emit("event", {"name": name, "payload": payload or {}, "router_data": ROUTER},
                               namespace=NAMESPACE)
        await self.wait_for(lambda updates: until(updates[start:]), timeout)
        return self.updates[start:]

    async def wait_for(self, predicate, timeout: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self.updates):
            assert asyncio.get_running_loop().time() < deadline, f"tab never got it: {self.updates[-5:]}"
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.client.disconnect()


def text(updates: list[dict]) -> str:
    return json.dumps(updates)


def redirected_to_sign_in(updates: list[dict]) -> bool:
    return any(e.get("name") == "_redirect" and str(e["payload"].get("path", "")).startswith("/login")
               for u in updates for e in u.get("events", []))


def signing_out(updates: list[dict]) -> bool:
    """The signing-out tab's answer: its session state says it is signing out."""
    return any((u.get("delta") or {}).get(SessionState.get_full_name(), {}).get("signing_out_rx_state_") is True
               for u in updates)


def notify(user_id: int, body: str, redis_url: str) -> None:
    """What a worker does when an admin declines a request: a notification row, then a live event."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("INSERT INTO notifications (user_id, kind, title, body, created_at) VALUES (%s, %s, %s, %s, %s)",
                     (user_id, "declined", "Request declined", body, datetime.now(UTC)))
    redis.Redis.from_url(redis_url).xadd(f"{REDIS_PREFIX}events",
                                         {"data": json.dumps({"type": "user", "user_ids": [user_id]})})


def run(coro) -> Any:
    """The socket clients run in their own thread and loop (Playwright owns this thread's loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(240)
    if "error" in box:
        raise box["error"]
    return box.get("result")


GUARD = f"{SessionState.get_full_name()}.guard"
SIGN_OUT = f"{SessionState.get_full_name()}.sign_out"
HYDRATE = "reflex___state____state.hydrate_and_load"


def _bob(journeys) -> tuple[str, int, str]:
    """Alice (admin) set up the household; Bob signed in. Their session cookies and Bob's id."""
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")
    bob.page.goto("about:blank")  # only the hand-made tabs below stay open
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        bob_id = conn.execute("SELECT id FROM users WHERE username = 'bob'").fetchone()[0]
    return bob.session_cookie()["value"], bob_id, alice.session_cookie()["value"]


async def _cut_and_replay(url: str, cookie: str, bob_id: int, redis_url: str, end_session) -> None:
    kept, other = await Tab(url, cookie).open(), await Tab(url, cookie).open()
    try:
        for tab in (kept, other):
            await tab.call(GUARD, until=lambda updates: '"bob"' in text(updates))
        notify(bob_id, "before-the-cut: linked tabs get this", redis_url)
        await other.wait_for(lambda u: "before-the-cut" in text(u))  # the feed reaches an open tab

        await end_session(kept)
        await other.wait_for(redirected_to_sign_in)
        cut = len(other.updates), len(kept.updates)
        notify(bob_id, "Declined: private reason after the cut", redis_url)
        await asyncio.sleep(4)
        after = other.updates[cut[0]:] + kept.updates[cut[1]:]
        assert "private reason" not in text(after), after
        assert "bob" not in text(after).replace("/login", "")
    finally:
        await kept.close()
        await other.close()

    # The same tab comes back without any cookie: Reflex hydrates it from its stored state.
    back = await Tab(url, None, token=other.token).open()
    try:
        replay = text(await back.send(HYDRATE, {}, settle=3))
        for private in ("bob", "before-the-cut", "private reason", "@"):
            assert private not in replay, f"{private!r} replayed to a signed-out tab: {replay[:2000]}"
    finally:
        await back.close()


def test_sign_out_cuts_every_tab_of_the_session_and_a_cookieless_reconnect_gets_nothing(journeys, app_url,
                                                                                          private_redis):
    cookie, bob_id, _ = _bob(journeys)

    async def sign_out(tab: Tab) -> None:
        await tab.call(SIGN_OUT, until=signing_out)

    run(_cut_and_replay(app_url, cookie, bob_id, private_redis.url, sign_out))


def test_suspension_cuts_the_members_tabs_and_a_cookieless_reconnect_gets_nothing(journeys, app_url,
                                                                                    private_redis):
    cookie, bob_id, alice_cookie = _bob(journeys)

    async def suspend(_tab: Tab) -> None:
        admin = await Tab(app_url, alice_cookie).open()
        try:
            await admin.call(f"{AdminUsersState.get_full_name()}.suspend", {"user_id": str(bob_id)},
                             until=lambda updates: "bob is suspended." in text(updates))
        finally:
            await admin.close()

    run(_cut_and_replay(app_url, cookie, bob_id, private_redis.url, suspend))
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT status FROM users WHERE id = %s", (bob_id,)).fetchone()[0] == "suspended"
