"""``GET /metrics``: Prometheus text for the metrics token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..config import get_settings
from ..metrics import render
from .access import internals_open, metrics_token_given


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text, for ``Authorization: Bearer <METRICS_TOKEN>``; without a configured token
    production answers 404 (and development stays open)."""
    settings = get_settings()
    if not internals_open(settings):
        if not settings.secret_value("metrics_token"):
            return Response(status_code=404)
        if not metrics_token_given(request, settings):
            return Response(status_code=401, headers={"www-authenticate": 'Bearer realm="metrics"'})
    body, content_type = await render()
    return Response(body, media_type=content_type)
