"""``POST /webhooks/overseerr`` from Overseerr's webhook agent (Settings → Notifications → Webhook)
with the ``Authorization`` header set to ``OVERSEERR_WEBHOOK_SECRET``: the request it names is
synced at once instead of at the next scheduled sync. Without a configured secret it answers 404."""

from __future__ import annotations

import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..db import session_scope
from ..errors import IntegrationUnavailable
from ..integrations.overseerr import OverseerrNotFound
from ..services import media_requests
from ..wiring import get_registry

logger = logging.getLogger(__name__)


WEBHOOK_MAX_BYTES = 64 * 1024  # Overseerr's largest payload (a request with its media and extras) is a few KB
MAX_REQUEST_ID = 2**31 - 1   # Overseerr's ids are SQL integers, and so is our column


async def _json_object(request: Request) -> tuple[dict, Response | None]:
    """The body as a JSON object, or the 400/413 answer to give instead (never an exception)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > WEBHOOK_MAX_BYTES:
        return {}, JSONResponse({"error": "body too large"}, status_code=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > WEBHOOK_MAX_BYTES:
            return {}, JSONResponse({"error": "body too large"}, status_code=413)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return {}, JSONResponse({"error": "body must be JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return {}, JSONResponse({"error": "body must be a JSON object"}, status_code=400)
    return payload, None


async def overseerr_webhook(request: Request) -> Response:
    """``POST /webhooks/overseerr`` from Overseerr's webhook agent."""
    secret = get_registry().settings.secret_value("overseerr_webhook_secret")
    if not secret:
        return JSONResponse({"error": "webhook not enabled"}, status_code=404)
    given = request.headers.get("authorization", "")
    if given.lower().startswith("bearer "):
        given = given[7:]
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return JSONResponse({"error": "bad authorization"}, status_code=401)
    payload, problem = await _json_object(request)
    if problem is not None:
        return problem
    kind = str(payload.get("notification_type") or "")
    if kind == "TEST_NOTIFICATION":
        return JSONResponse({"ok": True, "test": True})
    raw_id = (payload.get("request") or {}).get("request_id") if isinstance(payload.get("request"), dict) else None
    try:
        request_id = int(str(raw_id))
    except ValueError:
        return JSONResponse({"ok": True, "ignored": "no request id"}, status_code=202)
    if not 0 < request_id <= MAX_REQUEST_ID:
        return JSONResponse({"error": "request_id is not an Overseerr request id"}, status_code=400)
    overseerr = get_registry().overseerr()
    if overseerr is None:
        return JSONResponse({"error": "Overseerr is not configured"}, status_code=404)
    try:
        changed = await media_requests.sync_by_overseerr_id(session_scope, overseerr, request_id)
    except OverseerrNotFound:
        return JSONResponse({"ok": True, "ignored": "unknown request"}, status_code=202)
    except IntegrationUnavailable:
        # The scheduled sync catches up; tell Overseerr it was received.
        return JSONResponse({"ok": True, "deferred": True}, status_code=202)
    logger.info("Overseerr webhook %s for request %s: %s members updated", kind, request_id, changed)
    return JSONResponse({"ok": True, "changed": changed})
