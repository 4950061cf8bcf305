"""The middleware around the whole ASGI app: security headers (with the Content Security
Policy), a correlation id, HTTP metrics and the access log."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from ..config import get_settings
from ..csp import script_sources
from ..log import new_correlation_id
from ..metrics import observe_http

logger = logging.getLogger(__name__)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _csp(settings, script_src: str) -> str:
    plex_images = " ".join(sorted({_origin(settings.plex_tv_url), "https://plex.tv", "https://*.plex.tv"}))
    # The sign-in form redirects to the Plex approval page; form-action also governs that redirect.
    plex_auth = _origin(settings.plex_auth_url)
    return ("default-src 'self'; "
            # No 'unsafe-inline', no 'unsafe-eval': the build's own inline scripts by hash (csp.py),
            # and backend toasts travel as data (components/toasts.py).
            f"script-src {script_src}; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob: {plex_images}; "
            "font-src 'self' data:; "
            "connect-src 'self' ws: wss:; "
            f"frame-ancestors 'none'; base-uri 'self'; form-action 'self' {plex_auth}; object-src 'none'")


def security_middleware(app):
    """Wrap the whole ASGI app: security headers, correlation id, access log."""
    settings = get_settings()
    extra = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if settings.cookie_secure:
        extra.append((b"strict-transport-security", b"max-age=31536000"))
    csp_pending = True

    async def wrapped(scope, receive, send):
        nonlocal csp_pending
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if csp_pending:  # on the first request: the frontend is built by then (reflex run builds, then serves)
            csp_pending = False
            extra.append((b"content-security-policy", _csp(settings, script_sources()).encode()))
        incoming = dict(scope.get("headers") or [])
        cid = new_correlation_id(incoming.get(b"x-request-id", b"").decode("latin-1") or None)
        started = time.perf_counter()
        status_holder = {}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() not in {k for k, _ in extra}]
                message = {**message, "headers": [*headers, *extra, (b"x-request-id", cid.encode())]}
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if "status" not in status_holder:
                response = JSONResponse({"error": "Something went wrong on our side.", "reference": cid},
                                        status_code=500)
                await response(scope, receive, send_with_headers)
        finally:
            path = scope.get("path", "")
            elapsed = time.perf_counter() - started
            observe_http(scope.get("method", "GET"), path, status_holder.get("status", 500), elapsed)
            if not path.startswith(("/_next", "/assets", "/_event", "/ping")):
                logger.debug("%s %s %s %.1fms", scope.get("method"), path, status_holder.get("status"),
                             elapsed * 1000)
        return None

    return wrapped


__all__ = ["security_middleware"]
