"""The live bridge in every web process: events from the tasks (``live.py``'s Redis stream) become
changes of the shared Reflex states, which Reflex then pushes to the linked tabs; revoked
sessions have their tabs cut; the admin console's Jobs board and announcement banner are kept
live (``live_console.py``). In embedded mode it also runs the broker and the schedules.

The app file registers :func:`live_updates` as a lifespan task; nothing here builds the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import reflex as rx

from . import live, live_console, reflex_compat
from .config import get_settings
from .db import session_scope
from .services import service_status
from .state import (
    STATUS_BOARD_SHARDS,
    DownloadsFeed,
    SessionState,
    StatusBoard,
    UserFeed,
    card_view,
    clear_tab,
    downloads_feed_token,
    status_board_token,
    user_feed_token,
)
from .tasks.kuma_live import watch_kuma

logger = logging.getLogger("medianest.app")

PRUNE_LINKS_EVERY_S = 60.0
_last_prune: dict[int, float] = {}


async def fan_out_status() -> None:
    """A status event: read the board once, then one follow-up event per board shard, so that
    the web processes share the fan-out (each is applied by whichever process reads it first)."""
    async with session_scope() as session:
        cards = await service_status.board(session, interval_s=get_settings().status_check_interval_s)
    views = [card_view(card) for card in cards]
    for shard in range(STATUS_BOARD_SHARDS):
        await live.publish({"type": "status-shard", "shard": shard, "services": views})


async def refresh_status_board(target_app: rx.App, shard: int, views: list[dict]) -> None:
    """Write the board into one shard and send it to the tabs linked to it (one delta for all of them)."""
    async with reflex_compat.change_shared(target_app, StatusBoard, status_board_token(shard)) as board:
        if time.monotonic() - _last_prune.get(shard, 0.0) > PRUNE_LINKS_EVERY_S:
            _last_prune[shard] = time.monotonic()
            await _forget_closed_tabs(target_app, board)
        board._show_views(views)


async def refresh_user_feed(target_app: rx.App, user_id: int) -> None:
    """A member's requests or notifications changed: reload their feed; every tab of theirs
    shows the new notifications and remounts its request lists."""
    async with reflex_compat.change_shared(target_app, UserFeed, user_feed_token(user_id)) as feed:
        if len(reflex_compat.linked_tabs(feed)) > 8:
            await _forget_closed_tabs(target_app, feed)
        await feed._reload(user_id)
        feed.version += 1


async def refresh_downloads(target_app: rx.App, event: dict[str, Any]) -> None:
    """A download changed (reload the member's and the admins' lists), one of its items ended while
    it runs on, or it made progress (lay the row or the progress over the member's cards; an item
    that started or ended is a change of the queue for the admins, whose list reloads).
    Only feeds a tab watches are written: a tab that comes later reads its feed afresh."""
    user_id = event.get("user_id")
    if not isinstance(user_id, int):
        return
    for owner in (user_id, None):
        token = downloads_feed_token(owner)
        if not await live.is_watched(token):
            continue
        async with reflex_compat.change_shared(target_app, DownloadsFeed, token) as feed:
            if not reflex_compat.linked_tabs(feed):
                continue
            kind = event.get("type")
            if event.get("redelivered"):  # possibly late: only a new read is sure to be right
                await feed._reload(owner)
                continue
            if owner is not None and feed.loaded and kind == "download-item" and feed._item_end(event):
                continue
            overlay = kind == "download-progress" and (owner is not None or not event.get("started"))
            if overlay and feed.loaded:
                feed._progress(event)
            else:
                await feed._reload(owner)


async def reload_downloads_feed(target_app: rx.App, owner: int | None) -> None:
    """A tab found the feed's watch mark lapsed: the bridge may have skipped its events, so it is
    read again for every tab linked to it."""
    async with reflex_compat.change_shared(target_app, DownloadsFeed, downloads_feed_token(owner)) as feed:
        if reflex_compat.linked_tabs(feed):
            await feed._reload(owner)


async def end_sessions(target_app: rx.App, user_id: int, session_ids: set[str]) -> None:
    """Sessions were revoked: first unlink all their known tabs from the member's feed under one
    lock (nothing of the member's reaches them from then on), then clear each tab and send it to
    sign-in, each in a task of its own so that a tab busy in a slow handler holds up no one.

    A tab linked to the feed but not (yet, or no longer) recorded in ``_tabs`` is cleared too when
    its own state says it belongs to one of the ended sessions (``end_tab`` checks under its lock)."""
    token = rx.BaseStateToken(ident=user_feed_token(user_id), cls=UserFeed)
    async with target_app.modify_state(token) as root:
        feed = await root.get_state(UserFeed)
        linked = reflex_compat.linked_tabs(feed)
        known = {tab for tab, session_id in feed._tabs.items() if session_id in session_ids}
        unknown = linked - set(feed._tabs)
        if known:
            reflex_compat.set_linked_tabs(feed, linked - known)
            feed._tabs = {tab: s for tab, s in feed._tabs.items() if tab not in known}
    for tab in known | unknown:
        if await reflex_compat.is_tab_connected(target_app, tab):
            _in_background(end_tab(target_app, tab, session_ids))


async def end_tab(target_app: rx.App, tab: str, session_ids: set[str] | None = None) -> None:
    """Clear one tab wherever its socket lives: if ``session_ids`` is given, only a tab of one of
    those (revoked) sessions, which is then sent to sign-in; otherwise (its session ended or its
    cookie is gone) whatever it holds, leaving the redirect (with its ``next=``) to the event
    that found out."""
    async with target_app.modify_state(rx.BaseStateToken(ident=tab, cls=SessionState)) as root:
        session = await root.get_state(SessionState)
        if session_ids is not None and session._session_id not in session_ids:
            return
        rehydrate = await clear_tab(root)
    if rehydrate is not None:
        redirect = [rx.redirect("/login?signed_out=1", replace=True)] if session_ids is not None else []
        await reflex_compat.send_to_tab(target_app, tab, [*redirect, *rehydrate])


_clearing: set[asyncio.Task] = set()
# The app this process serves, set when its lifespan starts the bridge.
_serving: list[rx.App] = []


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _clearing.add(task)
    task.add_done_callback(_clearing.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("clearing a signed-out tab failed: %r", task.exception())


def clear_this_tab_later() -> None:
    """An event found no valid session (expired, revoked, cookie gone): this tab may still hold
    the member's data and links, so clear it once the event has released the tab's lock."""
    tab = reflex_compat.current_event_token()
    if tab is None or not _serving:
        return
    _in_background(end_tab(_serving[-1], tab))


async def _forget_closed_tabs(target_app: rx.App, board: rx.SharedState) -> None:
    """Reflex never unlinks a tab that went away, so every change would be fanned out to every
    tab ever opened; drop the ones whose socket is gone (they re-link on their next page load)."""
    if target_app.event_namespace is None:
        return
    linked = reflex_compat.linked_tabs(board)
    gone = {t for t in linked if not await reflex_compat.is_tab_connected(target_app, t)}
    if gone:
        reflex_compat.set_linked_tabs(board, linked - gone)
        if isinstance(board, UserFeed):
            board._tabs = {tab: s for tab, s in board._tabs.items() if tab not in gone}
        logger.info("status board: forgot %s closed tabs, %s linked", len(gone), len(linked) - len(gone))


@contextlib.asynccontextmanager
async def live_updates(app: rx.App):
    """The live bridge in every web process; in embedded mode also the broker and the schedules."""
    stop = asyncio.Event()
    _serving.append(app)

    last_status = [time.monotonic()]
    console = live_console.Console(app)  # the Jobs board and the announcement banner

    async def apply(event: dict) -> None:
        await console.apply(event)
        if event.get("type") == "status":
            last_status[0] = time.monotonic()
            await fan_out_status()
        elif event.get("type") == "status-shard" and isinstance(event.get("shard"), int):
            await refresh_status_board(app, event["shard"] % STATUS_BOARD_SHARDS, list(event.get("services") or []))
        elif event.get("type") == "revoke" and isinstance(event.get("user_id"), int):
            await end_sessions(app, event["user_id"], {str(s) for s in event.get("session_ids") or []})
        elif event.get("type") in ("downloads", "download-progress", "download-item"):
            await refresh_downloads(app, event)
        elif event.get("type") == "downloads-feed" and isinstance(event.get("owner"), int | None):
            await reload_downloads_feed(app, event.get("owner"))
        elif event.get("type") == "user":
            for user_id in event.get("user_ids") or []:
                if isinstance(user_id, int):
                    await refresh_user_feed(app, user_id)

    async def stale_watchdog() -> None:
        """With the worker or scheduler gone no event arrives, and the board would keep showing
        old data as current: after three silent intervals, re-read it (cards turn "Stale")."""
        interval = get_settings().status_check_interval_s
        while not await live.wait_or_stop(stop, interval):
            if time.monotonic() - last_status[0] > 3 * interval:
                await live.publish({"type": "status", "changes": [], "reason": "stale"})

    tasks = [asyncio.create_task(live.bridge(apply, stop), name="live-bridge"),
             asyncio.create_task(watch_kuma(stop), name="kuma-live"),
             asyncio.create_task(stale_watchdog(), name="stale-watchdog"), *console.start(stop)]
    embedded = not get_settings().redis_url
    if embedded:
        # Only here: in production the tasks run in the worker processes, and a web process that
        # imported them would also start releasing the request queue on its own breaker changes.
        from .tasks import registry as task_registry

        await task_registry.broker.startup()
        tasks.append(asyncio.create_task(task_registry.run_embedded_schedules(stop), name="embedded-schedules"))
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if embedded:
            await task_registry.broker.shutdown()
        _serving.remove(app)
