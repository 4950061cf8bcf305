"""``GET /health``: healthy (200) or not (503), for load balancers and Docker."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config import get_settings
from ..db import session_scope
from ..services import system_health
from ..wiring import get_registry
from .access import internals_open, is_admin, metrics_token_given


async def health(request: Request) -> JSONResponse:
    """Healthy (200) or not (503) for anyone; the checks themselves (latencies, breakers) only for
    the metrics token, an admin's session, or a development install without a token. The admin's
    System page shows the same checks in words (``services.system_health``)."""
    settings = get_settings()
    checks = await system_health.health_checks(session_scope, get_registry().redis() if settings.redis_url else None)
    healthy = system_health.healthy(checks)
    body: dict = {"status": "ok" if healthy else "error"}
    if internals_open(settings) or metrics_token_given(request, settings) or await is_admin(request, settings):
        body["checks"] = {check.key: system_health.check_json(check) for check in checks}
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"cache-control": "no-store"})
