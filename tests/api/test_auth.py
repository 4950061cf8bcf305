"""The /auth routes against cross-site requests: a link or form on another site neither signs
anyone out nor leaves a live session behind a cleared cookie; ``next`` is normalised."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from medianest import api
from medianest.config import get_settings
from medianest.errors import NotAuthenticated
from medianest.models import Role, User
from medianest.security import issue_token
from medianest.services import auth
from medianest.wiring import Registry
from tests.api.route_settings import use_settings
from tests.factories import make_session, make_user


def _client(cookie: str | None = None) -> httpx.AsyncClient:
    app = api.security_middleware(api.build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             cookies={api.SESSION_COOKIE: cookie} if cookie else None)


async def _session(db, username: str = "alice") -> str:
    user = (await db.exec(select(User).where(User.username == username))).first()
    if user is None:
        user = make_user(db, username=username, role=Role.USER, is_local=True)
        await db.flush()
    token = await make_session(db, user)
    await db.commit()
    return token


async def _still_valid(db, token: str) -> bool:
    try:
        await auth.resolve_session(db, token=token, settings=get_settings())
        return True
    except NotAuthenticated:
        return False
    finally:
        await db.rollback()


def _clears_session_cookie(response: httpx.Response) -> bool:
    return any(h.startswith(f"{api.SESSION_COOKIE}=") for h in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(("method", "headers"), [
    ("GET", {"Sec-Fetch-Site": "cross-site"}),           # <a href=".../auth/logout"> on another site
    ("GET", {}),                                         # a link, an <img>, an old bookmark
    ("POST", {"Sec-Fetch-Site": "cross-site"}),          # an auto-submitting form on another site
    ("POST", {"Sec-Fetch-Site": "same-site"}),           # a sibling subdomain is another site's page too
    ("POST", {"Origin": "https://evil.example"}),        # an older browser: no Sec-Fetch-Site
])
async def test_foreign_sign_out_changes_nothing(db, method, headers):
    token = await _session(db)
    async with _client(token) as client:
        response = await client.request(method, "/auth/logout", headers=headers)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert not _clears_session_cookie(response)
    assert await _still_valid(db, token)


async def test_sign_out_from_our_page_ends_the_server_side_session(db):
    token = await _session(db)
    async with _client(token) as client:
        response = await client.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin",
                                                              "Origin": "http://127.0.0.1:3000"})
    assert response.status_code == 303 and response.headers["location"] == "/login?signed_out=1"
    assert _clears_session_cookie(response)
    assert not await _still_valid(db, token)


async def test_starting_a_sign_in_keeps_the_existing_session(db, plex, monkeypatch):
    settings = get_settings().model_copy(update={"plex_tv_url": plex.plex_tv_url,
                                                 "plex_auth_url": f"{plex.plex_tv_url}/auth"})
    use_settings(monkeypatch, settings, Registry(settings))
    token = await _session(db)
    async with _client(token) as client:
        response = await client.get("/auth/plex/start", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 303 and "mn_pin=" in response.headers["set-cookie"]
    assert not _clears_session_cookie(response)
    assert await _still_valid(db, token)


async def test_starting_a_sign_in_drops_a_dead_session_cookie(db, plex, monkeypatch):
    settings = get_settings().model_copy(update={"plex_tv_url": plex.plex_tv_url,
                                                 "plex_auth_url": f"{plex.plex_tv_url}/auth"})
    use_settings(monkeypatch, settings, Registry(settings))
    token = await _session(db)
    user = await auth.resolve_session(db, token=token, settings=settings)
    await auth.revoke_session(db, session_id=user.session_id, reason="suspended")
    await db.commit()
    async with _client(token) as client:
        response = await client.get("/auth/plex/start")
    assert response.status_code == 303 and _clears_session_cookie(response)


async def test_a_finished_sign_in_ends_the_session_it_replaces(db):
    old = await _session(db)
    settings = get_settings()
    user = (await db.exec(select(User))).first()
    row = await auth.create_session(db, user=user, remember=False, settings=settings, client_ip=None, user_agent=None)
    await db.commit()
    ticket = issue_token("ticket", row.id, secret=settings.secret_value("jwt_secret"), ttl=auth.TICKET_TTL)
    async with _client(old) as client:
        response = await client.get("/auth/session", params={"ticket": ticket, "next": "/library"})
    assert response.status_code == 303 and response.headers["location"] == "/library"
    assert _clears_session_cookie(response)  # the new cookie replaces the old one
    assert not await _still_valid(db, old)


@pytest.mark.parametrize("given", ["/.//evil.example", "/%2e//evil.example", "/..//evil.example"])
async def test_auth_routes_normalise_next(db, given):
    async with _client() as client:
        response = await client.get("/auth/session", params={"ticket": "forged", "next": given})
    location = response.headers["location"]
    assert location.startswith("/login?") and "next=%2Fevil.example" in location
    assert "%2F%2F" not in location and "%2F.%2F" not in location
