"""Every event handler of every MediaNest State, sent the way a hand-crafted websocket message
would be: without a session each one refuses (except the few public ones, listed with the reason),
and with a member's session each admin handler refuses."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import uuid
from typing import Any

import psycopg
import reflex as rx
import socketio
from playwright.sync_api import expect

from medianest.pages import (  # noqa: F401
    account,
    admin,
    admin_announcement,
    admin_audit,
    admin_downloads,
    admin_jobs,
    admin_requests,
    admin_services,
    admin_system,
    callback,
    downloads,
    errors,
    home,
    library,
    login,
    requests,
    search,
    setup,
)
from medianest.state import SessionState
from tests.e2e.conftest import HOUSEHOLD, setup_household

# Handlers anyone may call, by design, and why.
PUBLIC = {
    "LoginState.load": "reads the sign-in page's own query string",
    "LoginState.local_sign_in": "checks a password itself and is rate limited",
    "PlexCallbackState.finish": "authorised by the signed PIN cookie, not a session",
    "ErrorPageState.load": "shows the reference from the URL",
}
ADMIN = {"SetupState.load", "SetupState.choose", "AdminUsersState.load",
         "AdminUsersState.suspend", "AdminUsersState.reactivate", "AdminUsersState.set_role",
         "AdminUsersState.import_to_overseerr",
         *(f"AdminRequestsState.{name}" for name in (
             "load", "reload", "set_status_filter", "set_type_filter", "set_member_filter", "go_to_page", "approve",
             "open_decline", "set_decline_reason", "close_decline", "confirm_decline")),
         *(f"AdminDownloadsState.{name}" for name in ("load", "set_member_filter", "set_state_filter", "cancel")),
         *(f"AdminAuditState.{name}" for name in (
             "load", "set_time_zone", "set_action_filter", "set_user_filter", "set_date_from", "set_date_to",
             "clear_filters", "go_to_page")),
         *(f"AdminSystemState.{name}" for name in (
             "load", "refresh", "reset_breaker", "open_sign_out", "close_sign_out", "confirm_sign_out")),
         *(f"AdminServicesState.{name}" for name in ("load", "intend", "submit", "forget", "list_servers",
                                                     "choose_server")),
         *(f"AdminJobsState.{name}" for name in ("load", "run_now", "retry_delivery", "retry_download")),
         *(f"AdminAnnouncementState.{name}" for name in (
             "load", "set_message", "set_level", "set_ends", "post", "remove"))}
MEMBER = {"SessionState.guard", "SessionState.sign_out", "SessionState.keepalive", "PasswordState.load",
          "PasswordState.change_password", "SessionState.dismiss_notice", "SessionState.dismiss_all_notices",
          *(f"SearchState.{name}" for name in (
              "load", "set_query", "load_more", "set_kind", "request_movie", "follow", "open_seasons",
              "toggle_season", "close_seasons", "request_seasons", "refresh_states")),
          *(f"RequestsState.{name}" for name in ("load", "reload", "set_filter", "go_to_page", "unfollow")),
          *(f"LibraryState.{name}" for name in ("load", "choose", "set_query", "load_more")),
          *(f"DownloadsState.{name}" for name in (
              "load", "set_url", "look", "toggle_entry", "choose_all", "set_quality", "set_make_collection", "clear",
              "download", "cancel", "retry", "remove", "set_sync"))}


def medianest_states() -> list[type[rx.State]]:
    found, todo = [], list(rx.State.get_substates())
    while todo:
        cls = todo.pop()
        todo.extend(cls.get_substates())
        if cls.__module__.startswith("medianest"):
            found.append(cls)
    return found


def all_handlers() -> list[tuple[str, str, Any]]:
    """(event name, qualified function name, handler) for every handler on every state."""
    out = []
    for cls in medianest_states():
        for name, handler in cls.event_handlers.items():
            if name == "setvar":
                continue
            out.append((f"{cls.get_full_name()}.{name}", handler.fn.__qualname__, handler))
    return out


def dummy_payload(handler) -> dict[str, Any]:
    values = {"str": "1", "int": 1, "bool": True, "dict": {"current": "x", "new": "y", "confirm": "y"}}
    params = list(inspect.signature(handler.fn).parameters.values())[1:]
    return {p.name: values.get(str(p.annotation).split("[")[0], "1") for p in params}


NAMESPACE = "/_event"


async def _connect(url: str, cookie: str | None, updates: asyncio.Queue) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    client.on("event", updates.put_nowait, namespace=NAMESPACE)
    headers = {"Origin": url}
    if cookie:
        headers["Cookie"] = f"mn_session={cookie}"
    await client.connect(f"{url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                         headers=headers, namespaces=[NAMESPACE])
    return client


async def _send_and_collect(client: socketio.AsyncClient, updates: asyncio.Queue, name: str,
                            payload: dict) -> list[dict]:
    """Send one event; collect its updates until a quiet spell."""
    await client.emit("event", {"name": name, "payload": payload,
                                "router_data": {"pathname": "/admin", "query": {}, "asPath": "/admin"}},
                      namespace=NAMESPACE)
    received: list[dict] = []
    timeout = 10.0  # the first answer may take a moment; then wait for a quiet spell
    while True:
        try:
            received.append(await asyncio.wait_for(updates.get(), timeout=timeout))
        except TimeoutError:
            break
        timeout = 0.7
    return received


async def _send_all(url: str, cookie: str | None, events: list[tuple[str, dict]]) -> list[list[dict]]:
    """Send each event on one socket, as the browser would; collect the updates per event."""
    updates: asyncio.Queue = asyncio.Queue()
    client = await _connect(url, cookie, updates)
    results = []
    try:
        for name, payload in events:
            results.append(await _send_and_collect(client, updates, name, payload))
    finally:
        await client.disconnect()
    return results


async def _send_each(url: str, cookie: str | None, events: list[tuple[str, dict]],
                     at_once: int) -> list[list[dict]]:
    """Send each event on a socket (a tab) of its own, ``at_once`` sockets at a time; the updates
    per event are those its own socket received, so none can be mistaken for another's."""
    slots = asyncio.Semaphore(at_once)

    async def one(name: str, payload: dict) -> list[dict]:
        async with slots:
            updates: asyncio.Queue = asyncio.Queue()
            client = await _connect(url, cookie, updates)
            try:
                return await _send_and_collect(client, updates, name, payload)
            finally:
                await client.disconnect()

    return list(await asyncio.gather(*(one(name, payload) for name, payload in events)))


def _in_thread(coro) -> Any:
    """Run the socket client in its own thread and loop (Playwright owns this thread's loop)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(300)
    if "error" in box:
        raise box["error"]
    return box["result"]


def send_all(url: str, cookie: str | None, events: list[tuple[str, dict]]) -> list[list[dict]]:
    """Every event on one socket, in order (each after the previous one's answers)."""
    return _in_thread(_send_all(url, cookie, events))


def send_each(url: str, cookie: str | None, events: list[tuple[str, dict]], at_once: int = 16) -> list[list[dict]]:
    """Every event on a fresh socket of its own (a tab a hand-crafted client opened), several at once."""
    return _in_thread(_send_each(url, cookie, events, at_once))


def redirects(updates: list[dict]) -> list[str]:
    return [e["payload"].get("path", "") for u in updates for e in u.get("events", []) if e.get("name") == "_redirect"]


def deltas(updates: list[dict]) -> dict:
    merged: dict = {}
    for update in updates:
        for state, values in (update.get("delta") or {}).items():
            merged.setdefault(state, {}).update(values)
    return merged


def test_every_handler_is_classified():
    names = {qual for _, qual, _ in all_handlers()}
    unclassified = names - set(PUBLIC) - ADMIN - MEMBER
    assert not unclassified, f"new handlers need an authorization decision in this test: {unclassified}"
    assert not (set(PUBLIC) | ADMIN | MEMBER) - names, "the lists name handlers that no longer exist"


def test_without_a_session_every_non_public_handler_refuses(journeys, app_url):
    setup_household(journeys())
    handlers = [(name, qual, h) for name, qual, h in all_handlers() if qual not in PUBLIC]
    results = send_each(app_url, None, [(name, dummy_payload(h)) for name, _, h in handlers])
    for (_name, qual, _), updates in zip(handlers, results, strict=True):
        paths = redirects(updates)
        assert any(p.startswith("/login") for p in paths), \
            f"{qual} did not send a signed-out caller to sign-in: {updates}"
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        statuses = dict(conn.execute("SELECT username, status FROM users").fetchall())
        revoked = conn.execute("SELECT count(*) FROM user_sessions WHERE revoked_at IS NOT NULL").fetchone()[0]
    assert statuses == {"alice": "active"} and revoked == 0


def test_member_is_refused_every_admin_handler_and_nothing_changes(journeys, app_url):
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")
    member_cookie = bob.session_cookie()["value"]
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        ids = dict(conn.execute("SELECT username, id FROM users").fetchall())

    handlers = [(name, qual, h) for name, qual, h in all_handlers() if qual in ADMIN]
    payloads = []
    for name, _qual, handler in handlers:
        payload = dummy_payload(handler)
        # Aim every admin action at something real, so a missing check would show in the database.
        if "user_id" in payload:
            payload["user_id"] = str(ids["alice"] if "role" not in payload else ids["bob"])
        if "role" in payload:
            payload["role"] = "admin"
        if "machine_id" in payload:
            payload["machine_id"] = HOUSEHOLD
        payloads.append((name, payload))
    results = send_each(app_url, member_cookie, payloads)
    for (_name, qual, _), updates in zip(handlers, results, strict=True):
        assert "/forbidden" in redirects(updates), f"{qual} did not refuse a member: {updates}"
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT username, role, status FROM users ORDER BY id").fetchall()
    assert rows == [("alice", "admin", "active"), ("bob", "user", "active")]

    # The same socket path with the admin's session works, so the refusals above are the checks.
    admin_load = next((n, h) for n, q, h in all_handlers() if q == "AdminUsersState.load")
    (updates,) = send_all(app_url, alice.session_cookie()["value"], [(admin_load[0], {})])
    assert "/forbidden" not in redirects(updates)
    rows_state = next(v for k, v in deltas(updates).items() if k.endswith("admin_users_state"))
    assert {r["username"] for r in rows_state["rows_rx_state_"]} == {"alice", "bob"}


def test_setvar_cannot_set_what_handlers_would_check(app_url, fresh):
    """``setvar`` exists on every state; MediaNest uses none, so the edge refuses it plainly."""
    target = f"{SessionState.get_full_name()}.setvar"
    (updates,) = send_all(app_url, None, [(target, {"var_name": "user_role", "value": "admin"})])
    session_delta = deltas(updates).get(SessionState.get_full_name(), {})
    assert session_delta.get("user_role_rx_state_") != "admin"
    assert redirects(updates) == []  # no error page: a crafted call is answered with a plain message
    assert [e["name"] for u in updates for e in u.get("events", [])] == ["_set_value"]


def test_websocket_from_a_foreign_origin_is_refused(app_url, fresh):
    async def connect(origin: str) -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(f"{app_url}?token={uuid.uuid4()}", socketio_path="/_event",
                                 transports=["websocket"], headers={"Origin": origin}, namespaces=[NAMESPACE],
                                 wait_timeout=5)
            return client.connected
        except socketio.exceptions.ConnectionError:
            return False
        finally:
            await client.disconnect()

    box: dict[str, bool] = {}
    thread = threading.Thread(target=lambda: box.update(
        own=asyncio.run(connect(app_url)), foreign=asyncio.run(connect("https://evil.example"))))
    thread.start()
    thread.join(60)
    assert box == {"own": True, "foreign": False}


SURROGATE = "heat\udc00"
HUGE = 2**63
# Values a crafted message may carry; those that fit an argument's type reach the handler's own checks.
CRAFTED = [None, HUGE, SURROGATE, "²", "99999999999999999999", ["x", SURROGATE], {"x": SURROGATE}, True]


def crafted_calls() -> list[tuple[str, str, dict]]:
    """For every handler: each argument replaced by each crafted value, each required argument left
    out, and an argument it does not have."""
    calls = []
    for name, qual, handler in all_handlers():
        good = dummy_payload(handler)
        calls.append((name, qual, {**good, "unexpected": 1}))
        params = list(inspect.signature(handler.fn).parameters.values())[1:]
        for param in params:
            calls.extend((name, qual, {**good, param.name: value}) for value in CRAFTED)
            if param.default is inspect.Parameter.empty:
                calls.append((name, qual, {k: v for k, v in good.items() if k != param.name}))
    return calls


class _AsciiJson:
    """JSON for the test's socket: a lone surrogate travels escaped (``\\udc00``), as a browser's
    JSON.stringify sends it. python-socketio keeps one JSON module for every packet in the process,
    and a Reflex app built in this process (the unit tests import it) installs one that writes raw
    characters, which the client's websocket then cannot encode."""

    @staticmethod
    def dumps(*args: Any, **kwargs: Any) -> str:
        return json.dumps(*args, **{**kwargs, "ensure_ascii": True})

    loads = staticmethod(json.loads)


async def _send_batch(url: str, cookie: str, events: list[tuple[str, dict]], done) -> list[dict]:
    """Send every event on one socket without waiting, then read updates until ``done(update)``."""
    client = socketio.AsyncClient(reconnection=False, json=_AsciiJson)
    updates: asyncio.Queue = asyncio.Queue()
    client.on("event", updates.put_nowait, namespace=NAMESPACE)
    await client.connect(f"{url}?token={uuid.uuid4()}", socketio_path="/_event", transports=["websocket"],
                         headers={"Origin": url, "Cookie": f"mn_session={cookie}"}, namespaces=[NAMESPACE])
    received: list[dict] = []
    try:
        for name, payload in events:
            await client.emit("event", {"name": name, "payload": payload,
                                        "router_data": {"pathname": "/search", "query": {}, "asPath": "/search"}},
                              namespace=NAMESPACE)
        while not received or not done(received[-1]):
            received.append(await asyncio.wait_for(updates.get(), timeout=120))
    finally:
        await client.disconnect()
    return received


def test_crafted_arguments_get_a_plain_answer_and_the_tab_keeps_working(journeys, app_url):
    """Wrong types, huge ints, lone surrogates, missing and unknown arguments, to every handler
    (with an admin's session, so admin handlers get past authorization): no exception is logged,
    no error page, nothing changes, and the same tab still works afterwards."""
    from tests.e2e.conftest import STACK

    alice = journeys()
    setup_household(alice)
    log = STACK.log_dir / "medianest.log"
    log_start = log.stat().st_size
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        before = conn.execute("SELECT id, username, role, status FROM users ORDER BY id").fetchall()

    calls = crafted_calls()
    query_event = next(n for n, q, _ in all_handlers() if q == "SearchState.set_query")
    search_state = query_event.rsplit(".", 1)[0]

    def searched(update: dict) -> bool:
        return (update.get("delta") or {}).get(search_state, {}).get("query_rx_state_") == "dune"

    cookie = alice.session_cookie()["value"]
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(_send_batch(
                app_url, cookie, [(n, p) for n, _, p in calls] + [(query_event, {"text": "dune"})], searched))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(300)
    if "error" in box:
        raise AssertionError("the tab stopped answering") from box["error"]
    updates = box["result"]

    assert not [p for p in redirects(updates) if p.startswith(("/error", "/login", "/forbidden"))]
    events = [e for u in updates for e in u.get("events", [])]
    toasts = [e for e in events if e.get("name") == "_set_value"]
    assert not [e for e in events if e.get("name") != "_set_value"], "only plain messages are sent back"
    assert len(toasts) >= len(calls) * 0.8  # most calls are refused outright; the rest answer themselves
    assert searched(updates[-1])

    logged = log.read_text(errors="replace")[log_start:]
    for marker in ("Traceback", "unexpected error", "Error transforming", "Logging error"):
        assert marker not in logged, f"{marker!r} in the server log:\n{logged[-3000:]}"
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT id, username, role, status FROM users ORDER BY id").fetchall() == before
        assert conn.execute("SELECT count(*) FROM user_sessions WHERE revoked_at IS NOT NULL").fetchone()[0] == 0
