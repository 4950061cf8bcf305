"""How an error raised while handling a browser event reaches the browser: typed errors from
``errors.py`` become a redirect or a toast, a blip of Redis or the database a "try again" toast,
anything else the error page with a reference (and the traceback in the log only)."""

from __future__ import annotations

import logging
from urllib.parse import quote

import reflex as rx
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from . import live_bridge
from .components import toasts
from .errors import (
    AccessDenied,
    Forbidden,
    IntegrationUnavailable,
    MediaNestError,
    NotAuthenticated,
    PasswordChangeRequired,
)
from .log import current_correlation_id, new_correlation_id
from .reflex_compat import LockExpiredError

logger = logging.getLogger("medianest.app")


# Redis restarting or failing over (Reflex's state lock expiring with it), the database restarting,
# its pool exhausted or a connection dropped: the next try works, so they are not the error page.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, RedisReadOnlyError, LockExpiredError,
    DisconnectionError, PoolTimeoutError, ConnectionError)
# PostgreSQL: connection exceptions (class 08), shutdown/restart, serialization and lock timeouts.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}
# What drivers say when the server went away (psycopg gives these without a SQLSTATE) or SQLite is busy.
_TRANSIENT_DB_TEXT = ("server closed the connection", "connection refused", "could not connect",
                      "connection timeout", "timeout expired", "terminating connection", "connection is closed",
                      "connection reset", "the database system is starting up", "the database system is shutting down",
                      "database is locked", "consuming input failed", "ssl syscall error")


def is_transient(exc: BaseException) -> bool:
    """A blip worth "try again", as opposed to a fault that would fail every time (a missing table,
    a refused database password), which must reach the log with a reference."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # e.g. psycopg's InterfaceError on a connection closed under it
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if state:
        return str(state).startswith("08") or state in _TRANSIENT_SQLSTATES
    return isinstance(exc, OperationalError) and any(text in str(exc.orig or exc).lower()
                                                     for text in _TRANSIENT_DB_TEXT)


def handle_backend_exception(exception: Exception):
    """Typed errors become plain answers; anything else is logged with a reference."""
    exc = exception
    if isinstance(exc, NotAuthenticated):
        live_bridge.clear_this_tab_later()
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
