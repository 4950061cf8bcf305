"""How errors raised while handling a browser event reach the browser."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError

from medianest.errors import NotAuthenticated
from medianest.medianest import handle_backend_exception


def _names(events) -> list[str]:
    return [str(getattr(e, "handler", e)) for e in events]


def test_a_redis_blip_keeps_the_page_and_says_so():
    events = handle_backend_exception(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379"))
    text = " ".join(_names(events)) + repr(events)
    assert "redirect" not in text.lower()
    assert "Lost contact with the server" in text


def test_unexpected_errors_go_to_the_error_page_and_sign_in_errors_to_sign_in():
    assert "/error?ref=" in repr(handle_backend_exception(RuntimeError("boom")))
    assert "/login" in repr(handle_backend_exception(NotAuthenticated(next_path="/")))


def _transient_errors() -> list[Exception]:
    from redis.exceptions import BusyLoadingError, ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from reflex_base.utils.exceptions import LockExpiredError
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    dropped = InterfaceError("SELECT 1", {}, Exception("the connection is closed"), connection_invalidated=True)
    return [RedisConnectionError("Error 111 connecting"), RedisTimeoutError("Timeout reading from socket"),
            BusyLoadingError("Redis is loading the dataset in memory"),
            ReadOnlyError("You can't write against a replica"),
            LockExpiredError("Lock expired for token abc while processing"),
            OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
            DisconnectionError("connection invalidated"), PoolTimeoutError("QueuePool limit reached"),
            dropped, ConnectionResetError(104, "Connection reset by peer")]


def test_every_transient_infrastructure_error_is_a_try_again_toast_not_the_error_page():
    for exc in _transient_errors():
        events = handle_backend_exception(exc)
        text = " ".join(_names(events)) + repr(events)
        assert "redirect" not in text.lower() and "/error" not in text, f"{type(exc).__name__} gave {text}"
        assert "Please try that again" in text, f"{type(exc).__name__} gave {text}"


def test_a_database_programming_error_is_not_mistaken_for_a_blip():
    from sqlalchemy.exc import InterfaceError, ProgrammingError

    assert "/error?ref=" in repr(handle_backend_exception(ProgrammingError("SELEC 1", {}, Exception("syntax"))))
    assert "/error?ref=" in repr(handle_backend_exception(InterfaceError("SELECT 1", {}, Exception("bad param"))))


def test_database_faults_that_would_fail_every_time_are_not_called_a_blip():
    from sqlalchemy.exc import OperationalError

    class Refused(Exception):
        sqlstate = "28P01"  # invalid_password

    for exc in (OperationalError("SELECT 1", {}, Exception("no such table: users")),
                OperationalError("SELECT 1", {}, Refused("password authentication failed for user \"mn\""))):
        assert "/error?ref=" in repr(handle_backend_exception(exc)), exc


def test_a_postgres_shutdown_by_sqlstate_is_a_blip():
    from sqlalchemy.exc import OperationalError

    class AdminShutdown(Exception):
        sqlstate = "57P01"

    events = handle_backend_exception(OperationalError("SELECT 1", {}, AdminShutdown("terminating connection")))
    assert "Lost contact with the server" in repr(events)
