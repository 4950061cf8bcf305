"""Sign-in with Plex and sessions, on PostgreSQL, against the plex.tv simulator over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from medianest.config import get_settings
from medianest.errors import AccessDenied, InvalidToken, NotAuthenticated, ValidationFailed
from medianest.integrations.plex import PlexTvClient
from medianest.models import AuditLog, Role, User, UserSession, UserStatus, utcnow
from medianest.security import Encryptor, issue_token
from medianest.services import auth, household, system
from tests.factories import make_user

HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"


@pytest.fixture
def settings():
    return get_settings()


@pytest.fixture
def encryptor(settings):
    return Encryptor(settings.secret_value("encryption_key"))


@pytest.fixture
def plex_tv(plex):
    return PlexTvClient(plex.plex_tv_url, client_id="medianest-test", timeout=5)


async def sign_in(db, plex, plex_tv, settings, encryptor, username: str, *, remember: bool = False,
                  next_path: str = "/"):
    """The whole PIN flow as the routes drive it, approving as ``username`` in the simulator."""
    started = await auth.start_plex_login(plex_tv=plex_tv, settings=settings, next_path=next_path, remember=remember)
    kwargs = dict(pin_cookie=started.pin_cookie, plex_tv=plex_tv, settings=settings, encryptor=encryptor,
                  client_ip="10.0.0.9", user_agent="pytest")
    assert await auth.check_plex_login(db, **kwargs) is None  # not approved yet
    plex.sim.approve_pin(started.pin_id, username)
    outcome = await auth.check_plex_login(db, **kwargs)
    await db.commit()
    return started, outcome


async def first_admin_with_household(db, plex, plex_tv, settings, encryptor):
    _, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "alice")
    admin = auth.CurrentUser(id=outcome.user_id, username="alice", email=None, avatar_url=None, role="admin",
                             is_local=False, must_change_password=False, session_id="x")
    await household.choose_server(db, actor=admin, machine_id=HOUSEHOLD, plex_tv=plex_tv, encryptor=encryptor)
    await db.commit()
    return admin


async def test_start_builds_plex_auth_url_with_forward_url(plex_tv, settings):
    started = await auth.start_plex_login(plex_tv=plex_tv, settings=settings, next_path="/admin", remember=True)
    assert started.auth_url.startswith(settings.plex_auth_url + "#?")
    assert "forwardUrl=" in started.auth_url and "%2Fauth%2Fplex%2Fcallback" in started.auth_url
    assert "clientID=medianest-test" in started.auth_url


async def test_first_plex_user_becomes_admin_and_token_is_encrypted(db, plex, plex_tv, settings, encryptor):
    _, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "alice", next_path="/somewhere")
    user = (await db.exec(select(User).where(User.plex_id == 1001))).one()
    assert user.role == Role.ADMIN.value and user.username == "alice"
    assert user.plex_token_encrypted and "sim-alice-token" not in user.plex_token_encrypted
    assert encryptor.decrypt(user.plex_token_encrypted) == "sim-alice-token"
    # No household server yet: the admin is sent to setup, not to where they were going.
    assert outcome.next_path == "/setup"


async def test_shared_member_signs_in_as_user(db, plex, plex_tv, settings, encryptor):
    await first_admin_with_household(db, plex, plex_tv, settings, encryptor)
    _, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "bob", next_path="/library")
    bob = (await db.exec(select(User).where(User.username == "bob"))).one()
    assert bob.role == Role.USER.value
    assert outcome.next_path == "/library"


async def test_stranger_is_refused_with_reason_and_no_user_row(db, plex, plex_tv, settings, encryptor):
    await first_admin_with_household(db, plex, plex_tv, settings, encryptor)
    with pytest.raises(AccessDenied) as info:
        await sign_in(db, plex, plex_tv, settings, encryptor, "mallory")
    assert info.value.reason == "no_access"
    assert "does not have access" in info.value.user_message and "Household" in info.value.user_message
    assert (await db.exec(select(User).where(User.username == "mallory"))).first() is None
    refused = (await db.exec(select(AuditLog).where(AuditLog.action == "login.refused"))).all()
    assert refused and refused[0].details["reason"] == "no_access"


async def test_member_refused_before_setup(db, plex, plex_tv, settings, encryptor):
    await sign_in(db, plex, plex_tv, settings, encryptor, "alice")
    with pytest.raises(AccessDenied) as info:
        await sign_in(db, plex, plex_tv, settings, encryptor, "bob")
    assert info.value.reason == "not_set_up"


async def test_unshared_member_loses_access(db, plex, plex_tv, settings, encryptor):
    await first_admin_with_household(db, plex, plex_tv, settings, encryptor)
    await sign_in(db, plex, plex_tv, settings, encryptor, "carol")
    plex.sim.remove_share("carol")
    with pytest.raises(AccessDenied):
        await sign_in(db, plex, plex_tv, settings, encryptor, "carol")


async def test_suspended_user_cannot_sign_in(db, plex, plex_tv, settings, encryptor):
    await first_admin_with_household(db, plex, plex_tv, settings, encryptor)
    await sign_in(db, plex, plex_tv, settings, encryptor, "bob")
    bob = (await db.exec(select(User).where(User.username == "bob"))).one()
    bob.status = UserStatus.SUSPENDED.value
    db.add(bob)
    await db.commit()
    with pytest.raises(AccessDenied) as info:
        await sign_in(db, plex, plex_tv, settings, encryptor, "bob")
    assert info.value.reason == "suspended" and "suspended" in info.value.user_message


async def test_expired_pin_is_reported(db, plex, plex_tv, settings, encryptor):
    started = await auth.start_plex_login(plex_tv=plex_tv, settings=settings, next_path="/", remember=False)
    plex.sim.advance_clock(3600)
    with pytest.raises(AccessDenied) as info:
        await auth.check_plex_login(db, pin_cookie=started.pin_cookie, plex_tv=plex_tv, settings=settings,
                                    encryptor=encryptor, client_ip=None, user_agent=None)
    assert info.value.reason == "expired"


async def test_forged_pin_cookie_is_rejected(db, plex_tv, settings, encryptor):
    forged = issue_token("pin", "1", secret="x" * 48, ttl=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        await auth.check_plex_login(db, pin_cookie=forged, plex_tv=plex_tv, settings=settings,
                                    encryptor=encryptor, client_ip=None, user_agent=None)


async def test_ticket_activates_once_in_the_browser_that_started(db, plex, plex_tv, settings, encryptor):
    started, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "alice", remember=True)
    other_browser = issue_token("pin", "999", secret=settings.secret_value("jwt_secret"), ttl=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        await auth.activate_session(db, ticket=outcome.ticket, pin_cookie=other_browser, settings=settings)
    token, row = await auth.activate_session(db, ticket=outcome.ticket, pin_cookie=started.pin_cookie,
                                             settings=settings)
    await db.commit()
    assert row.remember and row.token_hash and token not in row.token_hash
    assert (row.expires_at - utcnow()) > timedelta(days=29)
    with pytest.raises(InvalidToken):
        await auth.activate_session(db, ticket=outcome.ticket, pin_cookie=started.pin_cookie, settings=settings)
    user = await auth.resolve_session(db, token=token, settings=settings)
    assert user.username == "alice" and user.is_admin


async def test_a_pin_signs_in_once_and_a_replay_is_refused_and_audited(db, plex, plex_tv, settings, encryptor):
    started, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "alice")
    assert outcome is not None
    kwargs = dict(pin_cookie=started.pin_cookie, plex_tv=plex_tv, settings=settings, encryptor=encryptor,
                  client_ip="10.0.0.66", user_agent="replay")
    with pytest.raises(InvalidToken):
        await auth.check_plex_login(db, **kwargs)  # PlexCallbackState.finish again, same PIN cookie
    await db.rollback()
    sessions = (await db.exec(select(UserSession))).all()
    assert len(sessions) == 1
    replays = (await db.exec(select(AuditLog).where(AuditLog.action == "login.pin_replayed"))).all()
    assert len(replays) == 1 and replays[0].client_ip == "10.0.0.66"
    # Another PIN of the same account still works.
    _, again = await sign_in(db, plex, plex_tv, settings, encryptor, "alice")
    assert again is not None and again.user_id == outcome.user_id


async def test_session_without_remember_is_short_and_slides(db, plex, plex_tv, settings, encryptor):
    started, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, "alice", remember=False)
    _, row = await auth.activate_session(db, ticket=outcome.ticket, pin_cookie=started.pin_cookie, settings=settings)
    await db.commit()
    assert not row.remember
    assert (row.expires_at - utcnow()) <= timedelta(hours=settings.session_idle_hours)


async def _active_session(db, plex, plex_tv, settings, encryptor, username="alice"):
    started, outcome = await sign_in(db, plex, plex_tv, settings, encryptor, username)
    token, row = await auth.activate_session(db, ticket=outcome.ticket, pin_cookie=started.pin_cookie,
                                             settings=settings)
    await db.commit()
    return token, row


async def test_revoked_session_is_refused(db, plex, plex_tv, settings, encryptor):
    token, row = await _active_session(db, plex, plex_tv, settings, encryptor)
    await auth.revoke_session(db, session_id=row.id, reason="sign_out")
    await db.commit()
    with pytest.raises(NotAuthenticated):
        await auth.resolve_session(db, token=token, settings=settings)


async def test_expired_session_row_is_refused(db, plex, plex_tv, settings, encryptor):
    token, row = await _active_session(db, plex, plex_tv, settings, encryptor)
    stored = await db.get(UserSession, row.id)
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.add(stored)
    await db.commit()
    with pytest.raises(NotAuthenticated):
        await auth.resolve_session(db, token=token, settings=settings)


async def test_suspending_ends_existing_sessions(db, plex, plex_tv, settings, encryptor):
    from medianest.services import users

    admin = await first_admin_with_household(db, plex, plex_tv, settings, encryptor)
    token, row = await _active_session(db, plex, plex_tv, settings, encryptor, "bob")
    assert (await auth.resolve_session(db, token=token, settings=settings)).username == "bob"
    await users.set_status(db, actor=admin, user_id=row.user_id, status="suspended")
    await db.commit()
    with pytest.raises(NotAuthenticated):
        await auth.resolve_session(db, token=token, settings=settings)


async def test_missing_and_garbage_tokens_are_not_authenticated(db, settings):
    for token in (None, "", "garbage"):
        with pytest.raises(NotAuthenticated):
            await auth.resolve_session(db, token=token, settings=settings, next_path="/admin")


async def test_plex_client_id_is_generated_once(db):
    first = await system.plex_client_id(db, None)
    second = await system.plex_client_id(db, None)
    assert first == second and first.startswith("medianest-")
    assert await system.plex_client_id(db, "configured") == "configured"


@pytest.mark.parametrize(("given", "expected"), [
    ("/admin", "/admin"), ("/a?b=1", "/a?b=1"), ("//evil.example", "/"), ("https://evil.example/", "/"),
    ("/\\evil", "/"), (None, "/"), ("admin", "/"),
    ("/.//evil.example", "/evil.example"), ("/./evil.example", "/evil.example"), ("/..//evil.example", "/evil.example"),
    ("/a/..//evil.example", "/evil.example"), ("/%2e//evil.example", "/evil.example"), ("///evil.example", "/"),
    ("/\t/evil.example", "/"), ("/\n/evil.example", "/"), ("/requests//?page=2", "/requests/?page=2"),
    ("/library/?q=a//b#top", "/library/?q=a//b#top"),
])
def test_safe_next_path(given, expected):
    assert auth.safe_next_path(given) == expected


# ---- local admin bootstrap ----------------------------------------------------------------

@pytest.fixture
def local_settings(settings, monkeypatch):
    from pydantic import SecretStr

    monkeypatch.setattr(settings, "admin_username", "admin")
    monkeypatch.setattr(settings, "admin_password", SecretStr("bootstrap-pass"))
    return settings


async def test_local_admin_must_change_default_password(db, local_settings):
    ticket = await auth.local_sign_in(db, username="admin", password="bootstrap-pass", settings=local_settings,
                                      client_ip=None, user_agent=None)
    token, row = await auth.activate_session(db, ticket=ticket, pin_cookie=None, settings=local_settings)
    await db.commit()
    user = await auth.resolve_session(db, token=token, settings=local_settings)
    assert user.must_change_password and user.is_admin and user.is_local
    stored = await db.get(User, user.id)
    assert stored.password_hash and "bootstrap-pass" not in stored.password_hash

    with pytest.raises(ValidationFailed, match="at least"):
        await auth.change_password(db, user_id=user.id, current="bootstrap-pass", new="short", confirm="short",
                                   session_id=row.id)
    with pytest.raises(ValidationFailed, match="not the same"):
        await auth.change_password(db, user_id=user.id, current="bootstrap-pass", new="a-much-better-pass",
                                   confirm="a-much-better-pasz", session_id=row.id)
    await auth.change_password(db, user_id=user.id, current="bootstrap-pass", new="a-much-better-pass",
                               confirm="a-much-better-pass", session_id=row.id)
    await db.commit()
    assert not (await auth.resolve_session(db, token=token, settings=local_settings)).must_change_password
    # The environment password no longer works once the admin chose their own.
    with pytest.raises(ValidationFailed):
        await auth.local_sign_in(db, username="admin", password="bootstrap-pass", settings=local_settings,
                                 client_ip=None, user_agent=None)
    assert await auth.local_sign_in(db, username="admin", password="a-much-better-pass", settings=local_settings,
                                    client_ip=None, user_agent=None)


async def test_local_sign_in_wrong_password_and_disabled(db, local_settings, monkeypatch):
    with pytest.raises(ValidationFailed, match="do not match"):
        await auth.local_sign_in(db, username="admin", password="nope", settings=local_settings,
                                 client_ip=None, user_agent=None)
    assert (await db.exec(select(User))).first() is None
    monkeypatch.setattr(local_settings, "admin_password", None)
    with pytest.raises(ValidationFailed, match="turned off"):
        await auth.local_sign_in(db, username="admin", password="bootstrap-pass", settings=local_settings,
                                 client_ip=None, user_agent=None)


async def _revoke_events() -> list[dict]:
    import json

    import redis.asyncio as aioredis

    from medianest import live

    client = aioredis.from_url(get_settings().redis_url)
    try:
        entries = await client.xrange(live.stream_key())
    finally:
        await client.aclose()
    events = [json.loads(fields[b"data"]) for _, fields in entries]
    return [e for e in events if e.get("type") == "revoke"]


async def test_revocations_are_announced_once_committed_and_never_when_rolled_back(db):
    """The live bridge cuts a revoked session's tabs; it hears of it only after the commit."""
    from medianest.db import session_scope

    user = make_user(db, username="carol", plex_id=4242)
    await db.flush()
    rows = [await auth.create_session(db, user=user, remember=True, settings=get_settings(), client_ip=None,
                                      user_agent=None) for _ in range(3)]
    await db.commit()
    before = len(await _revoke_events())
    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            await auth.revoke_session(session, session_id=rows[0].id, reason="sign_out")
            raise RuntimeError("rolled back")
    assert len(await _revoke_events()) == before
    async with session_scope() as session:
        await auth.revoke_session(session, session_id=rows[0].id, reason="sign_out")
        assert len(await _revoke_events()) == before  # not yet committed
    async with session_scope() as session:
        await auth.revoke_user_sessions(session, user_id=user.id, reason="suspended")
    events = (await _revoke_events())[before:]
    assert events == [{"type": "revoke", "user_id": user.id, "session_ids": [rows[0].id]},
                      {"type": "revoke", "user_id": user.id, "session_ids": sorted([rows[1].id, rows[2].id])}]
