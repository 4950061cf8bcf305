"""The Reflex app: pages, HTTP routes, middleware, and the mapping of typed errors to what
the browser sees."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from urllib.parse import quote

import reflex as rx
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from reflex.state import StateUpdate
from reflex_base.event import Event
from reflex_base.event.context import EventContext
from reflex_base.utils.exceptions import LockExpiredError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from .api import build_api, security_middleware
from .components import toasts
from .config import get_settings
from .errors import (AccessDenied, Forbidden, IntegrationUnavailable, MediaNestError, NotAuthenticated,
                     PasswordChangeRequired)
from . import live, reflex_compat
from .db import session_scope
from .handler_args import HandlerArguments
from .log import configure_logging, current_correlation_id, new_correlation_id
from .metrics import instrument_event_handlers
from .services import service_status
from .state import (STATUS_BOARD_SHARDS, SessionState, SignedOutTabs, StatusBoard, UserFeed, card_view, clear_tab,
                    status_board_token, user_feed_token)
from .pages import (account, admin, admin_requests, callback, errors, home, library, login,  # noqa: F401
                    requests, search, setup)  # (registers @rx.page)

logger = logging.getLogger("medianest.app")
reflex_compat.install()

_settings = get_settings()
configure_logging(level=_settings.log_level,
                  json_lines=_settings.log_json if _settings.log_json is not None else _settings.is_production,
                  secrets_to_hide=_settings.secret_values())


# Redis restarting or failing over (Reflex's state lock expiring with it), the database restarting,
# its pool exhausted or a connection dropped: the next try works, so they are not the error page.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, RedisReadOnlyError, LockExpiredError,
    OperationalError, DisconnectionError, PoolTimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    # psycopg raises InterfaceError (not OperationalError) on a connection closed under it.
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def handle_backend_exception(exception: Exception):  # noqa: ANN201 - Reflex validates the signature
    """Typed errors become plain answers; anything else is logged with a reference."""
    exc = exception
    if isinstance(exc, NotAuthenticated):
        _clear_this_tab_later()
        target = "/login" if exc.next_path in {"", "/"} else f"/login?next={quote(exc.next_path, safe='')}"
        return [rx.redirect(target)]
    if isinstance(exc, PasswordChangeRequired):
        return [rx.redirect("/account/password")]
    if isinstance(exc, Forbidden):
        return [rx.redirect("/forbidden")]
    if isinstance(exc, (AccessDenied, IntegrationUnavailable, MediaNestError)):
        logger.info("handled %s: %s", type(exc).__name__, exc)
        return [toasts.error(exc.user_message)]
    if is_transient(exc):
        # Reflex keeps every tab's state in Redis and every handler reads the database: a restart of
        # either fails the events that arrive meanwhile. The page stays; its keepalive re-links it.
        logger.warning("event failed on a transient infrastructure error: %s: %s", type(exc).__name__, exc)
        return [toasts.warning("Lost contact with the server for a moment. Please try that again.")]
    reference = current_correlation_id()
    if reference in {"", "-"}:
        reference = new_correlation_id()
    logger.error("unexpected error in an event handler [ref %s]", reference, exc_info=exc)
    return [rx.redirect(f"/error?ref={reference}")]


def handle_frontend_exception(exception: Exception) -> None:
    logger.warning("browser reported an error: %s", str(exception)[:500])


def _mount_prebuilt_frontend(asgi):  # noqa: ANN001, ANN202
    """Serve the frontend exported at image build time (no bun at run time)."""
    from reflex.utils.exec import get_frontend_mount  # internal helper, isolated here

    asgi.routes.append(get_frontend_mount())
    return asgi


_transformers = [build_api(), security_middleware]
if os.environ.get("MEDIANEST_SERVE_PREBUILT_FRONTEND") == "1":
    _transformers.insert(0, _mount_prebuilt_frontend)

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
        if len(feed._linked_from) > 8:
            await _forget_closed_tabs(target_app, feed)
        await feed._reload(user_id)
        feed.version += 1


async def end_sessions(target_app: rx.App, user_id: int, session_ids: set[str]) -> None:
    """Sessions were revoked: first unlink all their tabs from the member's feed under one lock
    (nothing of the member's reaches them from then on), then clear each tab and send it to sign-in."""
    token = rx.BaseStateToken(ident=user_feed_token(user_id), cls=UserFeed)
    async with target_app.modify_state(token) as root:
        feed = await root.get_state(UserFeed)
        tabs = {tab for tab, session_id in feed._tabs.items() if session_id in session_ids}
        if tabs:
            feed._linked_from = set(feed._linked_from) - tabs
            feed._tabs = {tab: s for tab, s in feed._tabs.items() if tab not in tabs}
    for tab in tabs:
        await end_tab(target_app, tab, session_ids)


async def end_tab(target_app: rx.App, tab: str, session_ids: set[str] | None = None) -> None:
    """Clear one tab (if it still belongs to one of ``session_ids``) wherever its socket lives."""
    async with target_app.modify_state(rx.BaseStateToken(ident=tab, cls=SessionState)) as root:
        session = await root.get_state(SessionState)
        if session_ids is not None and session._session_id not in session_ids:
            return
        rehydrate = await clear_tab(root)
    if rehydrate is not None and target_app.event_namespace is not None:
        events = Event.from_event_type([rx.redirect("/login?signed_out=1", replace=True), *rehydrate])
        await target_app.event_namespace.emit_update(update=StateUpdate(events=events), token=tab)


_clearing: set[asyncio.Task] = set()


def _clear_this_tab_later() -> None:
    """An event found no valid session (expired, revoked, cookie gone): this tab may still hold
    the member's data and links, so clear it once the event has released the tab's lock."""
    try:
        tab = EventContext.get().token
    except LookupError:
        return
    task = asyncio.get_running_loop().create_task(end_tab(app, tab))
    _clearing.add(task)
    task.add_done_callback(_clearing.discard)


async def _forget_closed_tabs(target_app: rx.App, board: rx.SharedState) -> None:
    """Reflex never unlinks a tab that went away, so every change would be fanned out to every
    tab ever opened; drop the ones whose socket is gone (they re-link on their next page load)."""
    namespace = target_app.event_namespace
    if namespace is None:
        return
    manager = namespace._token_manager  # internal API, isolated here
    linked = set(board._linked_from)
    gone = {t for t in linked if not await manager.is_token_connected(t)}
    if gone:
        board._linked_from = linked - gone
        if isinstance(board, UserFeed):
            board._tabs = {tab: s for tab, s in board._tabs.items() if tab not in gone}
        logger.info("status board: forgot %s closed tabs, %s linked", len(gone), len(linked) - len(gone))


@contextlib.asynccontextmanager
async def live_updates(app: rx.App):  # noqa: ANN201 - a Reflex lifespan task
    """The live bridge in every web process; in embedded mode also the broker and the schedules."""
    stop = asyncio.Event()

    last_status = [time.monotonic()]

    async def apply(event: dict) -> None:
        if event.get("type") == "status":
            last_status[0] = time.monotonic()
            await fan_out_status()
        elif event.get("type") == "status-shard" and isinstance(event.get("shard"), int):
            await refresh_status_board(app, event["shard"] % STATUS_BOARD_SHARDS, list(event.get("services") or []))
        elif event.get("type") == "revoke" and isinstance(event.get("user_id"), int):
            await end_sessions(app, event["user_id"], {str(s) for s in event.get("session_ids") or []})
        elif event.get("type") == "user":
            for user_id in event.get("user_ids") or []:
                if isinstance(user_id, int):
                    await refresh_user_feed(app, user_id)

    from .tasks.kuma_live import watch_kuma

    async def stale_watchdog() -> None:
        """With the worker or scheduler gone no event arrives, and the board would keep showing
        old data as current: after three silent intervals, re-read it (cards turn "Stale")."""
        interval = get_settings().status_check_interval_s
        while not await live.wait_or_stop(stop, interval):
            if time.monotonic() - last_status[0] > 3 * interval:
                await live.publish({"type": "status", "changes": [], "reason": "stale"})

    tasks = [asyncio.create_task(live.bridge(apply, stop), name="live-bridge"),
             asyncio.create_task(watch_kuma(stop), name="kuma-live"),
             asyncio.create_task(stale_watchdog(), name="stale-watchdog")]
    embedded = not get_settings().redis_url
    if embedded:
        from .tasks import requests as _request_tasks, status as _status_tasks  # noqa: F401  (registers tasks)
        from .tasks.broker import broker, run_embedded_schedules

        await broker.startup()
        tasks.append(asyncio.create_task(run_embedded_schedules(stop), name="embedded-schedules"))
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if embedded:
            await broker.shutdown()


app = rx.App(
    api_transformer=_transformers,
    backend_exception_handler=handle_backend_exception,
    frontend_exception_handler=handle_frontend_exception,
    toaster=toasts.toaster(),  # backend toasts arrive as data, not as code to eval
    stylesheets=[],
)
app.add_page(errors.not_found, route="404", title="Not found · MediaNest")
app.add_middleware(HandlerArguments())  # crafted handler arguments never reach a handler
app.register_lifespan_task(live_updates)
app.add_middleware(SignedOutTabs())
instrument_event_handlers()
