"""The sign-in hops that must be real HTTP responses (only they can set the HttpOnly session
cookie): start a Plex PIN, turn a one-time ticket into the session cookie, sign out."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..config import get_settings
from ..db import session_scope
from ..errors import IntegrationUnavailable, InvalidToken, NotAuthenticated, RateLimited
from ..services import auth
from ..web import PIN_COOKIE, SESSION_COOKIE, client_ip_from
from ..wiring import get_registry

logger = logging.getLogger(__name__)


def _ip(request: Request) -> str:
    return client_ip_from(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"), get_settings().trusted_proxy_hops)


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


async def _live_session(request: Request, settings) -> bool:
    try:
        async with session_scope() as session:
            await auth.resolve_session(session, token=request.cookies.get(SESSION_COOKIE), settings=settings)
        return True
    except NotAuthenticated:
        return False


async def _end_replaced_session(request: Request, settings, *, keep: str) -> None:
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
