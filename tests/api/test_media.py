"""The media routes: the image proxy (Plex thumbnails, TMDB posters; signed-in only, cached,
the Plex token never in what the browser gets) and Overseerr's webhook."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import select

from medianest import api
from medianest.api import media as api_media
from medianest.config import get_settings
from medianest.db import session_scope
from medianest.models import MediaRequest, User
from medianest.security import issue_token
from medianest.services import auth, media_requests, system, users
from medianest.simulators import fixtures
from medianest.wiring import Registry
from tests.api.route_settings import use_settings
from tests.factories import as_member, make_session, make_user

HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"
SECRET = "webhook-secret-for-tests-0123456789"


@pytest.fixture
def configured(monkeypatch, overseerr_server, plex, tmp_path):
    """Settings pointing at the simulators, a webhook secret and a private image cache."""
    overseerr_server.sim.reset()
    settings = get_settings().model_copy(update={
        "overseerr_url": overseerr_server.url, "overseerr_api_key": SecretStr(fixtures.OVERSEERR_API_KEY),
        "overseerr_webhook_secret": SecretStr(SECRET), "tmdb_image_url": f"{overseerr_server.url}/__sim__/tmdb/t/p",
        "data_dir": tmp_path})
    registry = Registry(settings)
    use_settings(monkeypatch, settings, registry)
    api_media.image_cache.cache_clear()
    yield registry
    api_media.image_cache.cache_clear()


def _client(cookie: str | None = None) -> httpx.AsyncClient:
    app = api.security_middleware(api.build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             cookies={api.SESSION_COOKIE: cookie} if cookie else None)


async def _session_cookie(db, username: str = "alice") -> str:
    """A real signed-in session, made the way sign-in makes it."""
    user = make_user(db, username=username, plex_id=1001 if username == "alice" else 1002)
    await db.flush()
    token = await make_session(db, user, client_ip="127.0.0.1", user_agent="tests")
    await db.commit()
    return token


async def test_images_need_a_session_and_a_safe_path(configured, db, plex):
    async with _client() as client:
        assert (await client.get("/media/plex", params={"path": "/library/metadata/1/thumb/2"})).status_code == 401
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code == 401
    async with _client(await _session_cookie(db)) as client:
        for params in ({"path": "/photo/:/transcode"}, {"path": "/library/../identity"},
                       {"path": "/library/metadata/1/thumb/2", "w": "5000", "h": "1"}):
            assert (await client.get("/media/plex", params=params)).status_code == 400
        assert (await client.get("/media/tmdb/original/a.jpg")).status_code == 400
        assert (await client.get("/media/tmdb/w300/..%2Fsecret")).status_code in (400, 404)


async def test_plex_thumbnail_is_proxied_and_cached(configured, db, plex):
    await system.set_household_server(db, system.HouseholdServer(machine_id=HOUSEHOLD, name="Household",
                                                                 url=plex.pms_url, owner_plex_id=1001))
    await system.put_value(db, "household_server_token",
                           {"token": configured.encryptor.encrypt(plex.sim.server_token("alice"))})
    await db.commit()
    thumb = f"/library/metadata/{fixtures.MOVIE_RATING_KEY_START}/thumb/1700000000"
    async with _client(await _session_cookie(db)) as client:
        first = await client.get("/media/plex", params={"path": thumb, "w": "300", "h": "450"})
        second = await client.get("/media/plex", params={"path": thumb, "w": "300", "h": "450"})
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert second.content == first.content and "private" in first.headers["cache-control"]
    token = plex.sim.server_token("alice")
    assert token not in first.text and token not in str(first.headers)


async def test_a_forged_or_ended_session_gets_no_images(configured, db):
    forged = issue_token("session", "no-such-session", secret=get_settings().secret_value("jwt_secret"),
                         ttl=timedelta(minutes=10))
    async with _client(forged) as client:
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code == 401
    token = await _session_cookie(db, "bob")
    bob = (await db.exec(select(User).where(User.username == "bob"))).one()
    bob.status = "suspended"
    db.add(bob)
    await db.commit()
    async with _client(token) as client:
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code == 401


async def test_tmdb_poster_is_proxied(configured, db):
    async with _client(await _session_cookie(db)) as client:
        response = await client.get("/media/tmdb/w300/simmovie438631.jpg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/")


async def test_webhook_needs_the_secret_and_syncs_the_request(configured, db, overseerr_server):
    bob = make_user(db, username="bob", plex_id=1002)
    await db.commit()
    member = as_member(bob)
    outcome = await media_requests.submit(db, user=member, draft=media_requests.Draft("movie", 438631, "Dune"),
                                          overseerr=configured.overseerr(), limit_per_hour=20)
    overseerr_server.sim.approve(outcome.row.overseerr_request_id)
    body = {"notification_type": "MEDIA_APPROVED", "request": {"request_id": str(outcome.row.overseerr_request_id)}}
    async with _client() as client:
        assert (await client.post("/webhooks/overseerr", json=body)).status_code == 401
        assert (await client.post("/webhooks/overseerr", json=body,
                                  headers={"Authorization": "wrong"})).status_code == 401
        bad = await client.post("/webhooks/overseerr", content=b"{", headers={"Authorization": SECRET})
        assert bad.status_code == 400
        test = await client.post("/webhooks/overseerr", json={"notification_type": "TEST_NOTIFICATION"},
                                 headers={"Authorization": SECRET})
        assert test.json() == {"ok": True, "test": True}
        ok = await client.post("/webhooks/overseerr", json=body, headers={"Authorization": SECRET})
    assert ok.status_code == 200 and ok.json() == {"ok": True, "changed": 1}
    row = (await db.exec(select(MediaRequest))).one()
    await db.refresh(row)
    # Synced from "pending": the media is PENDING right after an approval, PROCESSING a moment later (§3.15).
    assert row.status in ("approved", "processing")


async def test_webhook_is_off_without_a_secret(monkeypatch, db):
    settings = get_settings().model_copy(update={"overseerr_webhook_secret": None})
    use_settings(monkeypatch, settings, Registry(settings))
    async with _client() as client:
        response = await client.post("/webhooks/overseerr", json={}, headers={"Authorization": ""})
    assert response.status_code == 404


async def test_the_next_image_request_after_sign_out_is_refused(configured, db):
    """The positive answer remembered for a minute must not outlive a sign-out or a suspension."""
    token = await _session_cookie(db)
    other = await _session_cookie(db, "bob")
    async with _client(token) as client, _client(other) as bobs:
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code != 401
        assert (await bobs.get("/media/tmdb/w300/a.jpg")).status_code != 401
        async with session_scope() as session:  # what sign-out does
            user = await auth.resolve_session(session, token=token, settings=get_settings())
            await auth.revoke_session(session, session_id=user.session_id, reason="sign_out")
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code == 401
        bob = (await db.exec(select(User).where(User.username == "bob"))).one()
        alice = (await db.exec(select(User).where(User.username == "alice"))).one()
        async with session_scope() as session:  # what an admin's suspension does
            admin = as_member(alice, role="admin", is_local=True, session_id="x")
            await users.set_status(session, actor=admin, user_id=bob.id, status="suspended")
        assert (await bobs.get("/media/tmdb/w300/a.jpg")).status_code == 401


async def test_a_revocation_that_rolls_back_changes_nothing(configured, db):
    token = await _session_cookie(db)
    async with _client(token) as client:
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code != 401
        with pytest.raises(RuntimeError):
            async with session_scope() as session:
                user = await auth.resolve_session(session, token=token, settings=get_settings())
                await auth.revoke_session(session, session_id=user.session_id, reason="sign_out")
                raise RuntimeError("the request failed after the revoke")
        assert (await client.get("/media/tmdb/w300/a.jpg")).status_code != 401


@pytest.mark.parametrize(("body", "message"), [
    (b'{"notification_type": "MEDIA_APPROVED", "request": {"request_id": "%d"}}' % 2**64, "request_id"),
    (b'{"notification_type": "MEDIA_APPROVED", "request": {"request_id": %d}}' % (2**70 + 1), "request_id"),
    (b'{"notification_type": "MEDIA_APPROVED", "request": {"request_id": -4}}', "request_id"),
    (b'{"a": ' * 5000 + b'1' + b'}' * 5000, "JSON"),
    (b'[' * 100_000 + b']' * 100_000, None),
])
async def test_webhook_answers_bad_bodies_with_a_plain_400(configured, db, body, message):
    async with _client() as client:
        response = await client.post("/webhooks/overseerr", content=body,
                                     headers={"Authorization": SECRET, "Content-Type": "application/json"})
    if message is None:  # bigger than any webhook Overseerr sends
        assert response.status_code == 413 and response.json() == {"error": "body too large"}
        return
    assert response.status_code == 400, response.text
    assert message in response.json()["error"] and "Traceback" not in response.text


async def test_webhook_refuses_an_oversized_body_without_content_length(configured, db):
    async def chunks():
        for _ in range(100):
            yield b" " * 4096

    async with _client() as client:
        response = await client.post("/webhooks/overseerr", content=chunks(), headers={"Authorization": SECRET})
    assert response.status_code == 413


async def test_video_thumbnails_come_only_from_youtube_or_allowed_hosts(configured, db, monkeypatch, tmp_path):
    from medianest.simulators.video_site import serve_in_thread

    with serve_in_thread(data_dir=tmp_path / "site") as site:
        thumb = f"{site.url}/thumbs/demo-1.jpg"
        async with _client() as client:
            assert (await client.get("/media/thumb", params={"u": thumb})).status_code == 401
        cookie = await _session_cookie(db)
        async with _client(cookie) as client:
            # 127.0.0.1 is neither a YouTube image host nor allowed.
            for url in (thumb, "file:///etc/passwd", "http://169.254.169.254/latest", "x" * 3000):
                assert (await client.get("/media/thumb", params={"u": url})).status_code == 400
        allowed = configured.settings.model_copy(update={"downloads_allowed_hosts": "127.0.0.1"})
        use_settings(monkeypatch, allowed, Registry(allowed))
        async with _client(cookie) as client:
            # Allowed by host, but a loopback address is refused unless private addresses are allowed.
            assert (await client.get("/media/thumb", params={"u": thumb})).status_code == 400
        private_ok = allowed.model_copy(update={"downloads_allow_private": True})
        use_settings(monkeypatch, private_ok, Registry(private_ok))
        async with _client(cookie) as client:
            first = await client.get("/media/thumb", params={"u": thumb})
            second = await client.get("/media/thumb", params={"u": thumb})
            missing = await client.get("/media/thumb", params={"u": f"{site.url}/thumbs/nope.jpg"})
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        assert first.content[:2] == b"\xff\xd8" and second.headers["x-cache"] == "hit"
        assert missing.status_code == 404
