"""How errors raised while handling a browser event reach the browser."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError

from medianest.errors import NotAuthenticated
from medianest.medianest import handle_backend_exception


def _names(events) -> list[str]:  # noqa: ANN001
    return [str(getattr(e, "handler", e)) for e in events]


def test_a_redis_blip_keeps_the_page_and_says_so():
    events = handle_backend_exception(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379"))
    text = " ".join(_names(events)) + repr(events)
    assert "redirect" not in text.lower()
    assert "Lost contact with the server" in text


def test_unexpected_errors_go_to_the_error_page_and_sign_in_errors_to_sign_in():
    assert "/error?ref=" in repr(handle_backend_exception(RuntimeError("boom")))
    assert "/login" in repr(handle_backend_exception(NotAuthenticated(next_path="/")))
