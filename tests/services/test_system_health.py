"""The admin's System page on PostgreSQL and Redis: the checks in words, versions and sizes, and
the sessions (count, sign everyone out). The breakers are in ``test_breaker_views.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlmodel import select

from medianest import live
from medianest.config import get_settings
from medianest.db import session_scope
from medianest.errors import NotAuthenticated
from medianest.integrations.overseerr import OverseerrClient
from medianest.integrations.plex import PlexServerClient
from medianest.integrations.uptime_kuma import UptimeKumaClient
from medianest.models import AuditLog, Role, UserSession
from medianest.services import auth, system_health
from medianest.simulators import fixtures
from medianest.version import VERSION
from tests.factories import make_session, make_user


@pytest.fixture
async def redis_client():
    client = aioredis.from_url(get_settings().redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{get_settings().redis_prefix}breaker*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_checks_versions_and_sizes_in_words(database_url, redis_client, plex, overseerr_server, kuma_server,
                                                  tmp_path):
    overseerr_server.sim.reset()
    settings = get_settings().model_copy(update={"downloads_root": tmp_path / "downloads",
                                                 "downloads_min_free_mb": 10**9})
    view = await system_health.system_view(
        session_scope, settings=settings, redis=redis_client,
        plex=PlexServerClient(plex.pms_url, token=None, client_id="medianest-test", timeout=2),
        overseerr=OverseerrClient(overseerr_server.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=2),
        kuma=UptimeKumaClient(kuma_server.url, api_key=fixtures.KUMA_API_KEY, timeout=2))
    assert view.healthy and view.headline == "Healthy: /health answers 200."
    checks = {line.key: line for line in view.checks}
    assert checks["database"].tone == "ok" and checks["database"].text.startswith("Answers (")
    assert checks["redis"].tone == "ok"
    versions = {line.key: line.text for line in view.versions}
    assert versions["medianest"] == VERSION
    assert versions["database"].startswith("PostgreSQL ") and versions["redis"].startswith("Redis ")
    assert versions["plex"] == fixtures.PMS_VERSION
    assert versions["overseerr"] == fixtures.OVERSEERR_VERSIONS["overseerr"]
    assert versions["uptime-kuma"] == fixtures.KUMA_VERSIONS["2.x"]  # Kuma's /metrics app_version gauge
    storage = {line.key: line for line in view.storage}
    assert storage["database"].text.endswith(" MB") or storage["database"].text.endswith(" KB")
    assert "keys (" in storage["redis"].text and "MediaNest's prefix" in storage["redis"].text
    # The downloads folder does not exist yet: its disk is measured where it will be; nearly full here.
    assert storage["disk"].tone == "warn" and "free of" in storage["disk"].text
    assert "new videos wait" in storage["disk"].text


async def test_a_service_that_does_not_answer_or_is_not_set_up_says_so(database_url, overseerr_server):
    overseerr_server.sim.reset()
    overseerr_server.sim.set_faults(status=503, times=1)
    try:
        view = await system_health.system_view(
            session_scope, settings=get_settings(), redis=None, plex=None,
            overseerr=OverseerrClient(overseerr_server.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=2), kuma=None)
    finally:
        overseerr_server.sim.clear_faults()
    versions = {line.key: line for line in view.versions}
    assert versions["overseerr"].text == "not answering" and versions["overseerr"].tone == "warn"
    assert versions["plex"].text == "not set up" and versions["uptime-kuma"].text == "not set up"
    assert {line.key: line.text for line in view.checks}["redis"].startswith("Not used: embedded mode")


async def test_an_unanswering_database_makes_the_headline_say_503(database_url, monkeypatch):
    broken = get_settings().model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/nothing"})
    monkeypatch.setattr("medianest.db.get_settings", lambda: broken)
    view = await system_health.system_view(session_scope, settings=broken, redis=None, plex=None, overseerr=None,
                                           kuma=None)
    assert not view.healthy and view.headline == "Not healthy: /health answers 503 (database not answering)."
    assert {line.key: line.tone for line in view.checks}["database"] == "bad"


async def test_sessions_are_counted_and_sign_everyone_out_revokes_all_but_the_admins_own(db, monkeypatch):
    announced: dict[int, list[str]] = {}

    async def record_announcement(user_id: int, session_ids: list[str]) -> None:
        announced[user_id] = session_ids

    monkeypatch.setattr(live, "announce_revoked", record_announcement)
    alice = make_user(db, username="alice", role=Role.ADMIN)
    bob = make_user(db, username="bob")
    carol = make_user(db, username="carol")
    await db.flush()
    here = await make_session(db, alice)
    elsewhere = await make_session(db, alice)
    bobs = await make_session(db, bob)
    carols = await make_session(db, carol)
    ended_before = await make_session(db, carol)
    await db.commit()
    settings = get_settings()
    await auth.revoke_session(db, session_id=(await auth.resolve_session(db, token=ended_before,
                                                                          settings=settings)).session_id,
                              reason="sign_out")
    stale = await db.get(UserSession, (await auth.resolve_session(db, token=carols, settings=settings)).session_id)
    stale.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.add(stale)
    await db.commit()

    count = await system_health.session_count(db)
    assert (count.sessions, count.people, count.text) == (3, 2, "3 signed-in sessions (2 people).")
    # carol's only valid session just expired: she is not counted; alice's two and bob's are.

    me = await auth.resolve_session(db, token=here, settings=get_settings())
    announced.clear()
    ended = await system_health.sign_everyone_out(db, actor=me, client_ip="203.0.113.9")
    await db.commit()
    assert ended == 3  # alice's other device, bob's, carol's expired one (never left valid)
    assert system_health.signed_out_sentence(ended) == "Signed out 3 sessions; your own stays signed in."
    assert (await auth.resolve_session(db, token=here, settings=get_settings())).id == alice.id
    for token in (elsewhere, bobs, carols):
        with pytest.raises(NotAuthenticated):
            await auth.resolve_session(db, token=token, settings=get_settings())
    # Each member's open tabs are cut the way a suspension cuts them (the live bridge's "revoke").
    assert set(announced) == {alice.id, bob.id, carol.id} and me.session_id not in announced[alice.id]
    assert (await system_health.session_count(db)).text == "1 signed-in session (1 person)."
    row = (await db.exec(select(AuditLog).where(AuditLog.action == "sessions.revoke_all"))).one()
    assert row.actor_user_id == alice.id and row.details == {"sessions": 3}


async def test_paused_work_says_what_waits_and_why(db):
    from medianest.models import ItemState, RequestStatus, YoutubeDownload, YoutubeDownloadItem
    from tests.factories import make_request

    assert [line.key for line in await system_health.paused_work(db)] == ["paused-none"]
    bob = make_user(db, username="bob")
    await db.flush()
    download = YoutubeDownload(user_id=bob.id, url="http://x", title="List", folder="bob/List")
    db.add(download)
    await db.flush()
    for n in (1, 2):
        db.add(YoutubeDownloadItem(download_id=download.id, user_id=bob.id, position=n, entry_id=f"e{n}",
                                   title=f"V{n}", url="http://x", status=ItemState.PAUSED.value,
                                   error="Paused: Plex is not answering since 14:02 UTC"))
    make_request(db, bob, status=RequestStatus.QUEUED)
    await db.commit()
    lines = {line.key: line.text for line in await system_health.paused_work(db)}
    assert lines == {
        "downloads-paused": "2 videos waiting. Paused: Plex is not answering since 14:02 UTC.",
        "requests-queued": "1 request waiting for Overseerr; they are sent by themselves when it answers."}
