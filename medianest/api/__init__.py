"""HTTP routes beside the Reflex app (Starlette), one module per concern, and the middleware
around the whole ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from ..web import PIN_COOKIE, SESSION_COOKIE, client_ip_from, cookie_value
from .audit_export import audit_csv
from .auth import plex_start, session_from_ticket, sign_out
from .health import health
from .media import plex_image, tmdb_image, video_thumb
from .metrics import metrics_endpoint
from .middleware import security_middleware
from .webhooks import overseerr_webhook

__all__ = ["PIN_COOKIE", "SESSION_COOKIE", "build_api", "client_ip_from", "cookie_value", "security_middleware"]


def build_api() -> Starlette:
    return Starlette(routes=[
        Route("/health", health),
        Route("/metrics", metrics_endpoint),
        Route("/auth/plex/start", plex_start),
        Route("/auth/session", session_from_ticket),
        Route("/auth/logout", sign_out, methods=["GET", "POST"]),
        Route("/media/plex", plex_image),
        Route("/media/tmdb/{size}/{file}", tmdb_image),
        Route("/media/thumb", video_thumb),
        Route("/webhooks/overseerr", overseerr_webhook, methods=["POST"]),
        Route("/admin/audit.csv", audit_csv),
    ])
