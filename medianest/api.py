"""HTTP routes beside the Reflex app (Starlette): health, the Plex sign-in hops, sign-out,
plus the middleware that adds security headers and a correlation id to every request."""

from __future__ import annotations

import hmac
import logging
import time
from http.cookies import SimpleCookie
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .config import get_settings
from .csp import script_sources
from .db import session_scope
from .errors import IntegrationUnavailable, InvalidToken, NotAuthenticated, RateLimited
from .integrations.base import breaker_states
from .integrations.registry import get_registry
from .log import new_correlation_id
from .metrics import observe_http
from .services import auth

logger = logging.getLogger(__name__)

SESSION_COOKIE = "mn_session"
PIN_COOKIE = "mn_pin"


def client_ip_from(peer: str | None, forwarded_for: str | None, hops: int) -> str:
    """The caller's IP; X-Forwarded-For counts only behind ``hops`` trusted proxies."""
    ip = peer or "0.0.0.0"
    if hops and forwarded_for:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(chain) >= hops:
            ip = chain[-hops]
    return ip


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed header from the client is just "no cookie"
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _ip(request: Request) -> str:
    return client_ip_from(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"), get_settings().trusted_proxy_hops)


def _metrics_token_given(request: Request, settings) -> bool:  # noqa: ANN001
    expected = settings.secret_value("metrics_token")
    given = request.headers.get("authorization", "")
    if not expected or not given.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(given[7:].strip().encode(), expected.encode())


def _internals_open(settings) -> bool:  # noqa: ANN001
    """Without a METRICS_TOKEN, development keeps /metrics and the health detail open."""
    return not settings.is_production and not settings.secret_value("metrics_token")


async def _is_admin(request: Request, settings) -> bool:  # noqa: ANN001
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    try:
        async with session_scope() as session:
            return (await auth.resolve_session(session, token=token, settings=settings)).is_admin
    except Exception:  # no session, or the database is down: no detail, the status still answers
        return False


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
    if _internals_open(settings) or _metrics_token_given(request, settings) or await _is_admin(request, settings):
        body["checks"] = checks
    return JSONResponse(body, status_code=200 if healthy else 503, headers={"cache-control": "no-store"})


async def plex_start(request: Request) -> Response:
    """Create a PIN and send the browser to the Plex approval page (works on phones: no pop-up)."""
    settings = get_settings()
    registry = get_registry()
    next_path = auth.safe_next_path(request.query_params.get("next"))
    remember = request.query_params.get("remember") in {"1", "true", "on"}
    try:
        await registry.rate_limiter().hit(registry.auth_limit, _ip(request), message="Too many sign-in attempts.")
        async with session_scope() as session:
            plex_tv = await registry.plex_tv(session)
        started = await auth.start_plex_login(plex_tv=plex_tv, settings=settings, next_path=next_path,
                                              remember=remember)
    except RateLimited as exc:
        return _to_login(next_path, error=exc.user_message, retry=exc.retry_after)
    except IntegrationUnavailable as exc:
        logger.warning("plex sign-in start failed: %s", exc)
        return _to_login(next_path, error="Plex is not answering right now, so sign-in cannot start. "
                                          "Please try again in a minute.")
    response = RedirectResponse(started.auth_url, status_code=303)
    response.set_cookie(PIN_COOKIE, started.pin_cookie, max_age=int(auth.PIN_TTL.total_seconds()), httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    # A live session cookie stays: anyone's page can link here, and a link must not sign anyone
    # out (the new session replaces it when this sign-in finishes). A dead one is dropped.
    if request.cookies.get(SESSION_COOKIE) and not await _live_session(request, settings):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def session_from_ticket(request: Request) -> Response:
    """Turn a one-time ticket into the HttpOnly session cookie, then go where the member was going."""
    settings = get_settings()
    next_path = auth.safe_next_path(request.query_params.get("next"))
    try:
        async with session_scope() as session:
            token, row = await auth.activate_session(session, ticket=request.query_params.get("ticket", ""),
                                                     pin_cookie=request.cookies.get(PIN_COOKIE), settings=settings)
    except InvalidToken:
        return _to_login(next_path, error="That sign-in link has expired or was already used. Please sign in again.")
    await _end_replaced_session(request, settings, keep=row.id)
    response = RedirectResponse(next_path, status_code=303)
    max_age = settings.session_days * 86400 if row.remember else None  # None: ends with the browser session
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=settings.cookie_secure, path="/")
    response.delete_cookie(PIN_COOKIE, path="/")
    return response


async def _live_session(request: Request, settings) -> bool:  # noqa: ANN001
    try:
        async with session_scope() as session:
            await auth.resolve_session(session, token=request.cookies.get(SESSION_COOKIE), settings=settings)
        return True
    except NotAuthenticated:
        return False


async def _end_replaced_session(request: Request, settings, *, keep: str) -> None:  # noqa: ANN001
    """A finished sign-in replaces this browser's previous session: end it on the server too."""
    old = request.cookies.get(SESSION_COOKIE)
    if not old:
        return
    try:
        async with session_scope() as session:
            user = await auth.resolve_session(session, token=old, settings=settings)
            if user.session_id != keep:
                await auth.revoke_session(session, session_id=user.session_id, reason="replaced")
    except NotAuthenticated:
        pass


def _from_our_page(request: Request) -> bool:
    """A same-origin request: Sec-Fetch-Site where the browser sends it, else the Origin header."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    return origin is None or origin in get_settings().allowed_origins


async def sign_out(request: Request) -> Response:
    """``POST /auth/logout`` from MediaNest's own page: end the server-side session, clear the cookies.

    A GET or a cross-site POST changes nothing: a link or a form on another site must not sign
    anyone out (nor leave a live session row behind a cleared cookie)."""
    if request.method != "POST" or not _from_our_page(request):
        return RedirectResponse("/", status_code=303)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            async with session_scope() as session:
                user = await auth.resolve_session(session, token=token, settings=get_settings())
                await auth.revoke_session(session, session_id=user.session_id, reason="sign_out")
        except NotAuthenticated:
            pass
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(PIN_COOKIE, path="/")
    return response


def _to_login(next_path: str, *, error: str, retry: int | None = None) -> RedirectResponse:
    params = {"error": error}
    if next_path != "/":
        params["next"] = next_path
    if retry:
        params["retry"] = str(retry)
    return RedirectResponse(f"/login?{urlencode(params, quote_via=quote)}", status_code=303)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text, for ``Authorization: Bearer <METRICS_TOKEN>``; without a configured token
    production answers 404 (and development stays open)."""
    from .metrics import render

    settings = get_settings()
    if not _internals_open(settings):
        if not settings.secret_value("metrics_token"):
            return Response(status_code=404)
        if not _metrics_token_given(request, settings):
            return Response(status_code=401, headers={"www-authenticate": 'Bearer realm="metrics"'})
    body, content_type = await render()
    return Response(body, media_type=content_type)


def build_api() -> Starlette:
    from .api_media import media_routes

    return Starlette(routes=[
        Route("/health", health),
        Route("/metrics", metrics_endpoint),
        Route("/auth/plex/start", plex_start),
        Route("/auth/session", session_from_ticket),
        Route("/auth/logout", sign_out, methods=["GET", "POST"]),
        *media_routes(),
    ])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _csp(settings, script_src: str) -> str:  # noqa: ANN001
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


def security_middleware(app):  # noqa: ANN001, ANN201 - ASGI
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

    async def wrapped(scope, receive, send):  # noqa: ANN001
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

        async def send_with_headers(message):  # noqa: ANN001
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


__all__ = ["build_api", "security_middleware", "cookie_value", "client_ip_from", "SESSION_COOKIE", "PIN_COOKIE"]
