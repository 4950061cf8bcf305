"""``GET /health``: healthy (200) or not (503), for load balancers and Docker."""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config import get_settings
from ..db import session_scope
from ..integrations.base import breaker_states
from ..wiring import get_registry
from .access import internals_open, is_admin, metrics_token_given

logger = logging.getLogger(__name__)


async def health(request: Request) -> JSONResponse:
    """Healthy (200) or not (503) for anyone; the checks themselves (latencies, breakers) only for
    the metrics token, an admin's session, or a development install without a token."""
    settings = get_settings()
    checks: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        async with session_scope() as session:
            await session.exec(text("SELECT 1"))
        checks["database"] = {"status": "up", "critical": True,
                              "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # any failure means "down"; the detail goes to the log only
        logger.warning("health: database down: %s", exc)
        checks["database"] = {"status": "down", "critical": True}
    if settings.redis_url:
        started = time.perf_counter()
        try:
            await get_registry().redis().ping()
            checks["redis"] = {"status": "up", "critical": True,
                               "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as exc:
            logger.warning("health: redis down: %s", exc)
            checks["redis"] = {"status": "down", "critical": True}
    for name, state in breaker_states().items():
        # Non-critical: an open breaker means that service is failing, not MediaNest.
        checks[f"breaker:{name}"] = {"status": "up" if state == "closed" else "degraded", "critical": False,
                                     "state": state}
    healthy = all(c["status"] == "up" for c in checks.values() if c["critical"])
    body: dict = {"status": "ok" if healthy else "error"}
    if internals_open(settings) or metrics_token_given(request, settings) or await is_admin(request, settings):
        body["checks"] = checks
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"cache-control": "no-store"})
