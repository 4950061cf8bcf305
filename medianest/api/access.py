"""Who may read the internals (``/metrics``, ``/health``'s detail): the metrics token, an admin's
session, or a development install without a token."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..db import session_scope
from ..services import auth
from ..web import SESSION_COOKIE


def metrics_token_given(request: Request, settings) -> bool:
    expected = settings.secret_value("metrics_token")
    given = request.headers.get("authorization", "")
    if not expected or not given.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(given[7:].strip().encode(), expected.encode())


def internals_open(settings) -> bool:
    """Without a METRICS_TOKEN, development keeps /metrics and the health detail open."""
    return not settings.is_production and not settings.secret_value("metrics_token")


async def is_admin(request: Request, settings) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    try:
        async with session_scope() as session:
            return (await auth.resolve_session(session, token=token, settings=settings)).is_admin
    except Exception:  # no session, or the database is down: no detail, the status still answers
        return False
