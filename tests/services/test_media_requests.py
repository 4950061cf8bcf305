"""Requests through Overseerr, end to end on PostgreSQL and the Overseerr simulator over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pybreaker
import pytest
import sqlalchemy as sa
from sqlmodel import select

from medianest.config import get_settings
from medianest.db import get_engine, session_scope
from medianest.errors import Forbidden, IntegrationRejected, RateLimited, ValidationFailed
from medianest.integrations.overseerr import OverseerrClient
from medianest.models import MediaRequest, Notification, RequestFollow, utcnow
from medianest.services import media_requests, notifications, search
from medianest.services.auth import CurrentUser
from medianest.services.media_requests import Draft
from medianest.simulators import fixtures
from medianest.simulators.overseerr import PROCESSING_DELAY_S
from tests.factories import as_member, make_follow, make_request, make_user

DUNE = Draft("movie", 438631, "Dune", 2021, "/dune.jpg")
OPPENHEIMER = Draft("movie", 872585, "Oppenheimer", 2023)
SEVERANCE = 95396


@pytest.fixture
def overseerr(overseerr_server):
    overseerr_server.sim.reset()
    return overseerr_server


def _client(handle, timeout: float = 3.0) -> OverseerrClient:
    # A private breaker so outages provoked here never open the process-wide one.
    return OverseerrClient(handle.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=timeout,
                           breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))


async def _member(db, name: str, plex_id: int | None, role: str = "user") -> CurrentUser:
    user = make_user(db, username=name, plex_id=plex_id, role=role)
    await db.commit()
    return as_member(user)


async def _submit(db, user, draft, client, limit: int = 20):
    return await media_requests.submit(db, user=user, draft=draft, overseerr=client, limit_per_hour=limit)


async def test_request_goes_to_overseerr_as_the_member_and_is_pending(db, overseerr):
    bob = await _member(db, "bob", 1002)
    outcome = await _submit(db, bob, DUNE, _client(overseerr))
    assert outcome.ok and outcome.row.status == "pending"
    assert "waiting for approval" in outcome.message
    remote = overseerr.sim.state()["requests"]
    assert len(remote) == 1
    assert remote[0]["requestedBy"]["id"] == 2 and remote[0]["status"] == 1  # bob's Overseerr user, not the admin key
    row = (await db.exec(select(MediaRequest))).one()
    assert (row.overseerr_request_id, row.title, row.poster_path, row.attempts) == (remote[0]["id"], "Dune",
                                                                                     "/dune.jpg", 1)
    # the same member asking again is told so, and nothing is written
    with pytest.raises(ValidationFailed, match="already requested"):
        await _submit(db, bob, DUNE, _client(overseerr))
    assert (await db.exec(select(sa.func.count()).select_from(MediaRequest))).one() == 1


async def test_admin_member_is_auto_approved_by_overseerr(db, overseerr):
    alice = await _member(db, "alice", 1001, role="admin")
    outcome = await _submit(db, alice, OPPENHEIMER, _client(overseerr))
    assert outcome.row.status in ("approved", "processing")


async def test_bad_input_changes_nothing(db, overseerr):
    bob = await _member(db, "bob", 1002)
    for draft, text in [(Draft("person", 1, "x"), "Only movies"), (Draft("movie", -3, "x"), "cannot be requested"),
                        (Draft("tv", SEVERANCE, "Severance"), "at least one season"),
                        (Draft("movie", 438631, "Dune", seasons=(1,)), "no seasons")]:
        with pytest.raises(ValidationFailed, match=text):
            await _submit(db, bob, draft, _client(overseerr))
    assert (await db.exec(select(sa.func.count()).select_from(MediaRequest))).one() == 0
    assert overseerr.sim.state()["requests"] == []


async def test_member_without_overseerr_user_is_told_and_admin_can_import(db, overseerr):
    overseerr.sim.remove_user(2)
    bob = await _member(db, "bob", 1002)
    admin = await _member(db, "alice", 1001, role="admin")
    for _ in range(2):
        with pytest.raises(media_requests.NotInOverseerr, match="not set up in Overseerr"):
            await _submit(db, bob, DUNE, _client(overseerr))
    offers, _ = await notifications.unread(db, admin.id)
    assert [(n.title, n.link) for n in offers] == [("bob cannot request yet", "/admin")]  # told once
    assert await media_requests.members_without_overseerr(db, _client(overseerr)) == {bob.id}
    with pytest.raises(Forbidden):
        await media_requests.import_member(db, actor=bob, user_id=bob.id, overseerr=_client(overseerr))
    text = await media_requests.import_member(db, actor=admin, user_id=bob.id, overseerr=_client(overseerr))
    assert "added to Overseerr" in text
    outcome = await _submit(db, bob, DUNE, _client(overseerr))
    assert outcome.row.status == "pending"
    notes, count = await notifications.unread(db, bob.id)
    assert count == 1 and notes[0].title == "You can request now"


async def test_overseerr_down_keeps_the_request_and_delivers_it_once_after(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)  # mapping remembered before the outage
    overseerr.sim.set_faults(status=503)
    outcome = await _submit(db, bob, DUNE, client)
    assert not outcome.ok and outcome.row.status == "queued"
    assert "saved" in outcome.message and "automatically" in outcome.message
    row = (await db.exec(select(MediaRequest))).one()
    assert row.attempts == 1 and row.next_attempt_at is not None
    # not due yet: the retry task leaves it alone
    assert await media_requests.deliver_due(session_scope, client) == 0
    overseerr.sim.clear_faults()
    await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    assert await media_requests.deliver_due(session_scope, client) == 1
    assert await media_requests.deliver_due(session_scope, client) == 0
    await db.refresh(row)
    assert row.status == "pending" and row.attempts == 2 and row.last_error is None
    assert len(overseerr.sim.state()["requests"]) == 1


async def test_backoff_grows_and_is_capped(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(status=502)
    await _submit(db, bob, DUNE, client)
    waits = []
    for _ in range(4):
        row = (await db.exec(select(MediaRequest))).one()
        await db.refresh(row)
        waits.append((row.next_attempt_at - utcnow()).total_seconds())
        await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
        await media_requests.deliver_due(session_scope, client, retry_max_s=60)
    assert waits[0] == pytest.approx(15, abs=2) and waits[1] == pytest.approx(30, abs=2)
    assert waits[2] == pytest.approx(60, abs=2) and waits[3] == pytest.approx(60, abs=2)
    assert overseerr.sim.state()["requests"] == []


async def test_lost_answer_is_recognised_on_retry_and_not_sent_twice(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(status=504)
    outcome = await _submit(db, bob, DUNE, client)
    assert outcome.row.status == "queued"
    overseerr.sim.clear_faults()
    # The attempt did reach Overseerr (only its answer was lost): bob's request exists there.
    earlier = await client.create_request("movie", DUNE.tmdb_id, as_user=2)
    await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    await media_requests.deliver_due(session_scope, client)
    row = (await db.exec(select(MediaRequest))).one()
    await db.refresh(row)
    remote = overseerr.sim.state()["requests"]
    assert len(remote) == 1 and row.status == "pending" and row.overseerr_request_id == earlier.id


async def test_duplicate_by_someone_else_can_be_followed_and_both_are_notified(db, overseerr):
    bob = await _member(db, "bob", 1002)
    carol = await _member(db, "carol", 1003)
    admin = await _member(db, "alice", 1001, role="admin")
    client = _client(overseerr)
    first = await _submit(db, bob, DUNE, client)
    second = await _submit(db, carol, DUNE, client)
    assert second.row.status == "duplicate" and "Someone else has already requested" in second.message
    assert "Follow" in second.message
    assert "following" not in second.message
    assert await media_requests.follow(db, user=carol, draft=DUNE) == "You will be told when Dune is available."
    assert "already follow" in await media_requests.follow(db, user=carol, draft=DUNE)
    text = await media_requests.decide(db, actor=admin, request_id=first.row.id, approve=True,
                                       overseerr=client)
    assert text == "Dune was approved."
    overseerr.sim.mark_available(first.row.overseerr_request_id)
    assert await media_requests.sync_open(session_scope, client) == 2
    row = await db.get(MediaRequest, first.row.id)
    await db.refresh(row)
    assert row.status == "available" and row.plex_url and "app.plex.tv" in row.plex_url
    for member in (bob, carol):
        notes, _ = await notifications.unread(db, member.id)
        assert [n.title for n in notes if n.kind == "available"] == ["Dune is available"]
        available = next(n for n in notes if n.kind == "available")
        assert available.link == row.plex_url and available.link_label == "Watch in Plex"
    follow = (await db.exec(select(RequestFollow))).one()
    assert follow.notified_at is not None
    # a second sync notifies nobody again
    assert await media_requests.sync_open(session_scope, client) == 0
    assert (await db.exec(select(sa.func.count()).select_from(Notification).where(
        Notification.kind == "available"))).one() == 2


async def test_quota_and_permission_refusals_are_plain(db, overseerr):
    carol = await _member(db, "carol", 1003)  # movie quota 1 per 7 days in the simulator
    client = _client(overseerr)
    assert (await _submit(db, carol, DUNE, client)).row.status == "pending"
    refused = await _submit(db, carol, OPPENHEIMER, client)
    assert refused.row.status == "refused" and "quota is used up" in refused.message


async def test_hourly_limit_counts_every_submission_and_says_how_long(db, overseerr):
    carol = await _member(db, "carol", 1003)
    client = _client(overseerr)
    await _submit(db, carol, DUNE, client, limit=2)
    await _submit(db, carol, OPPENHEIMER, client, limit=2)  # refused by Overseerr's quota, still counted
    with pytest.raises(RateLimited, match=r"2 requests in the last hour.*again in 60 minutes") as info:
        await _submit(db, carol, Draft("movie", 424, "Schindler's List"), client, limit=2)
    assert 3590 <= info.value.retry_after <= 3600
    assert (await db.exec(select(sa.func.count()).select_from(MediaRequest))).one() == 2


async def test_show_with_chosen_seasons_and_already_requested_seasons(db, overseerr):
    bob = await _member(db, "bob", 1002)
    carol = await _member(db, "carol", 1003)
    client = _client(overseerr)
    outcome = await _submit(db, bob, Draft("tv", SEVERANCE, "Severance", seasons=(1,)), client)
    assert outcome.row.status == "pending" and outcome.row.seasons == [1]
    remote = overseerr.sim.state()["requests"][0]
    assert [s["seasonNumber"] for s in remote["seasons"]] == [1]
    details = await client.tv(SEVERANCE)
    assert details.requested_seasons == (1,)
    again = await _submit(db, carol, Draft("tv", SEVERANCE, "Severance", seasons=(1,)), client)
    assert again.row.status == "duplicate" and "already requested or available" in again.message
    more = await _submit(db, carol, Draft("tv", SEVERANCE, "Severance", seasons=(2,)), client)
    assert more.row.status == "pending"


async def test_admin_decline_with_reason_reaches_the_member(db, overseerr):
    bob = await _member(db, "bob", 1002)
    admin = await _member(db, "alice", 1001, role="admin")
    client = _client(overseerr)
    outcome = await _submit(db, bob, DUNE, client)
    rows, total = await media_requests.list_requests(db, viewer=admin, mine=False, status="pending")
    assert total == 1 and rows[0].can_decide and rows[0].username == "bob"
    with pytest.raises(Forbidden):
        await media_requests.decide(db, actor=bob, request_id=outcome.row.id, approve=False, overseerr=client)
    with pytest.raises(ValidationFailed, match="under 500"):
        await media_requests.decide(db, actor=admin, request_id=outcome.row.id, approve=False, reason="x" * 501,
                                    overseerr=client)
    await media_requests.decide(db, actor=admin, request_id=outcome.row.id, approve=False,
                                reason="We already have the 1984 one", overseerr=client)
    assert overseerr.sim.state()["requests"][0]["status"] == 3
    mine, _ = await media_requests.list_requests(db, viewer=bob, mine=True)
    assert (mine[0].status, mine[0].label, mine[0].message) == ("declined", "Declined", "We already have the 1984 one")
    notes, _ = await notifications.unread(db, bob.id)
    assert notes[0].title == "Dune was declined" and "We already have the 1984 one" in notes[0].body
    with pytest.raises(ValidationFailed, match="not waiting for approval"):
        await media_requests.decide(db, actor=admin, request_id=outcome.row.id, approve=True, overseerr=client)
    with pytest.raises(Forbidden):
        await media_requests.list_requests(db, viewer=bob, mine=False)


@pytest.mark.parametrize("flavour", ["overseerr", "seerr"])
async def test_status_follows_overseerr_in_both_flavours(db, overseerr, flavour):
    overseerr.sim.set_flavour(flavour)
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr)
    outcome = await _submit(db, bob, DUNE, client)
    overseerr.sim.approve(outcome.row.overseerr_request_id)
    assert await media_requests.sync_by_overseerr_id(session_scope, client, outcome.row.overseerr_request_id) == 1
    row = await db.get(MediaRequest, outcome.row.id)
    await db.refresh(row)
    assert row.status == "approved"  # the media is still PENDING right after the approval (§3.15)
    await asyncio.sleep(PROCESSING_DELAY_S + 0.1)
    await media_requests.sync_open(session_scope, client)
    await db.refresh(row)
    assert row.status == "processing"
    overseerr.sim.mark_available(outcome.row.overseerr_request_id)
    await media_requests.sync_open(session_scope, client)
    await db.refresh(row)
    assert row.status == "available" and row.completed_at is not None
    mine, _ = await media_requests.list_requests(db, viewer=bob, mine=True, status="available")
    assert [r.title for r in mine] == ["Dune"]


async def test_lists_page_by_twenty_and_filter(db, overseerr):
    bob = await _member(db, "bob", 1002)
    for i in range(25):
        make_request(db, bob, title=f"T{i}", media_type="movie", tmdb_id=1000 + i,
                     status="pending" if i % 2 else "declined")
    await db.commit()
    first, total = await media_requests.list_requests(db, viewer=bob)
    second, _ = await media_requests.list_requests(db, viewer=bob, page=2)
    assert total == 25 and len(first) == 20 and len(second) == 5 and first[0].title == "T24"
    pending, count = await media_requests.list_requests(db, viewer=bob, status="pending")
    assert count == 12 and {r.status for r in pending} == {"pending"}
    with pytest.raises(ValidationFailed):
        await media_requests.list_requests(db, viewer=bob, status="bogus")


async def test_a_missing_season_of_a_partly_available_show_is_followed_per_season(db, overseerr):
    bob = await _member(db, "bob", 1002)
    admin = await _member(db, "alice", 1001, role="admin")
    client = _client(overseerr)
    details = await client.tv(1396)  # Breaking Bad: seasons 1-2 in Plex, 5 on TMDB
    missing = next(s.season_number for s in details.seasons if s.status != "available")
    outcome = await _submit(db, bob, Draft("tv", 1396, "Breaking Bad", seasons=(missing,)), client)
    assert outcome.row.status == "pending" and "already available" not in outcome.message
    await media_requests.decide(db, actor=admin, request_id=outcome.row.id, approve=True, overseerr=client)
    row = await db.get(MediaRequest, outcome.row.id)
    await db.refresh(row)
    assert row.status == "processing"  # not "partly available": the asked season is not there yet
    notes, _ = await notifications.unread(db, bob.id)
    assert [n.kind for n in notes] == ["approved"]
    overseerr.sim.mark_available(outcome.row.overseerr_request_id)
    await media_requests.sync_open(session_scope, client)
    await db.refresh(row)
    assert row.status == "available"
    notes, _ = await notifications.unread(db, bob.id)
    assert [n.title for n in notes if n.kind == "available"] == ["Breaking Bad is available"]


async def test_the_same_change_seen_twice_at_once_notifies_once(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr)
    outcome = await _submit(db, bob, DUNE, client)
    overseerr.sim.approve(outcome.row.overseerr_request_id)
    overseerr.sim.mark_available(outcome.row.overseerr_request_id)
    remote = await client.request(outcome.row.overseerr_request_id)
    # The scheduled sync and the webhook both loaded the row before either wrote it.
    async with session_scope() as first, session_scope() as second:
        row_a = await first.get(MediaRequest, outcome.row.id)
        row_b = await second.get(MediaRequest, outcome.row.id)
        assert await media_requests.apply_overseerr(first, row_a, remote)
        await first.commit()
        assert not await media_requests.apply_overseerr(second, row_b, remote)
    assert (await db.exec(select(sa.func.count()).select_from(Notification).where(
        Notification.kind == "available"))).one() == 1


async def test_a_follow_overseerr_no_longer_knows_does_not_stop_the_sync(db, overseerr):
    bob = await _member(db, "bob", 1002)
    carol = await _member(db, "carol", 1003)
    client = _client(overseerr)
    make_follow(db, carol, media_type="movie", tmdb_id=999999991, title="Gone")
    await db.commit()
    outcome = await _submit(db, bob, DUNE, client)
    await media_requests.follow(db, user=carol, draft=DUNE)
    overseerr.sim.approve(outcome.row.overseerr_request_id)
    overseerr.sim.mark_available(outcome.row.overseerr_request_id)
    assert await media_requests.sync_open(session_scope, client) == 2
    notes, _ = await notifications.unread(db, carol.id)
    assert [n.title for n in notes] == ["Dune is available"]


async def test_a_refused_api_key_keeps_every_queued_request_and_tries_them_all(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)  # mapping remembered
    overseerr.sim.set_faults(status=503)
    for draft in (DUNE, OPPENHEIMER):
        await _submit(db, bob, draft, client)
    overseerr.sim.clear_faults()
    await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    wrong_key = OverseerrClient(overseerr.url, api_key="not-the-key", timeout=1.0,
                                breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))
    assert await media_requests.deliver_due(session_scope, wrong_key) == 2
    rows = (await db.exec(select(MediaRequest).order_by(MediaRequest.id))).all()
    for row in rows:
        await db.refresh(row)
    assert [(r.status, r.attempts) for r in rows] == [("queued", 2), ("queued", 2)]
    assert "API key" in rows[0].last_error
    await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    assert await media_requests.deliver_due(session_scope, client) == 2
    for row in rows:
        await db.refresh(row)
    assert [r.status for r in rows] == ["pending", "pending"]
    notes, _ = await notifications.unread(db, bob.id)
    assert {n.title for n in notes} == {"Dune was sent to Overseerr", "Oppenheimer was sent to Overseerr"}


# --------------------------------------------------------------------------------------
# Delivery faults (issue 8): a database blip, a killed worker, the breaker, a lost answer
# --------------------------------------------------------------------------------------


async def _kill_open_transactions() -> int:
    """A database blip: PostgreSQL drops every connection of this database that is in a transaction."""
    async with get_engine().connect() as conn:
        killed = (await conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"))).all()
    return len(killed)


async def _make_due(db) -> None:
    await db.exec(sa.update(MediaRequest).where(MediaRequest.status == "queued").values(
        next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()


async def _rows(db) -> list[MediaRequest]:
    rows = list((await db.exec(select(MediaRequest).order_by(MediaRequest.id))).all())
    for row in rows:
        await db.refresh(row)
    return rows


async def test_a_database_blip_after_overseerr_took_the_request_says_it_is_saved(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=5.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(latency_ms=1500, path_prefix="/api/v1/request", times=1)
    async with session_scope() as session:
        submitting = asyncio.create_task(_submit(session, bob, DUNE, client))
        await asyncio.sleep(0.7)  # the row is saved and Overseerr is taking the request
        assert await _kill_open_transactions() == 1
        outcome = await submitting  # the last commit failed: no error page
    assert outcome.row.status == "queued" and not outcome.ok
    assert outcome.message == "Your request for Dune is saved and will be sent to Overseerr shortly."
    remote = overseerr.sim.state()["requests"]
    assert len(remote) == 1  # Overseerr did take it
    [row] = await _rows(db)
    assert row.status == "queued" and row.overseerr_request_id is None
    assert row.next_attempt_at - utcnow() <= media_requests.delivery_lease(client.timeout_s)
    await _make_due(db)  # the lease is up (its length is checked above)
    assert await media_requests.deliver_due(session_scope, client) == 1
    [row] = await _rows(db)
    assert (row.status, row.overseerr_request_id) == ("pending", remote[0]["id"])
    assert len(overseerr.sim.state()["requests"]) == 1


async def test_a_worker_killed_mid_delivery_is_retried_after_a_short_lease(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(outage=True, path_prefix="/api/v1/request")
    async with session_scope() as session:
        submitting = asyncio.create_task(_submit(session, bob, DUNE, client))
        await asyncio.sleep(0.5)
        submitting.cancel()  # the worker dies while Overseerr holds the request
        with pytest.raises(asyncio.CancelledError):
            await submitting
    [row] = await _rows(db)
    assert row.status == "queued"
    wait = (row.next_attempt_at - utcnow()).total_seconds()
    assert 0 < wait <= 5  # 3 HTTP timeouts, at least 5 s
    settings = get_settings()
    # With the production settings a crashed attempt is picked up within one retry interval.
    assert media_requests.delivery_lease(settings.http_timeout_s) <= timedelta(
        seconds=settings.request_retry_interval_s)
    assert await media_requests.deliver_due(session_scope, client) == 0  # still leased
    overseerr.sim.clear_faults()
    await asyncio.sleep(wait + 0.1)
    assert await media_requests.deliver_due(session_scope, client) == 1
    [row] = await _rows(db)
    assert row.status == "pending" and len(overseerr.sim.state()["requests"]) == 1


async def test_one_attempt_never_takes_longer_than_its_budget(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    await client.create_request("movie", DUNE.tmdb_id, as_user=3)  # carol's: the retry looks at it
    overseerr.sim.set_faults(status=503)
    await _submit(db, bob, DUNE, client)
    await _make_due(db)
    overseerr.sim.set_faults(latency_ms=900)  # every call slow, none over the HTTP timeout
    started = time.monotonic()
    assert await media_requests.deliver_due(session_scope, client) == 1
    assert time.monotonic() - started < 2 * 1.0 + 0.5  # cut off at two HTTP timeouts, not 3 calls of 0.9 s
    [row] = await _rows(db)
    assert row.status == "queued" and "not answering" in row.last_error


async def test_attempts_refused_by_an_open_breaker_do_not_grow_the_backoff(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = OverseerrClient(overseerr.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=1.0,
                             breaker=pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60,
                                                              exclude=[IntegrationRejected]))
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(status=503)
    await _submit(db, bob, DUNE, client)  # reaches Overseerr, fails and opens the breaker
    for _ in range(3):
        await _make_due(db)
        assert await media_requests.deliver_due(session_scope, client) == 1  # refused, nothing sent
    [row] = await _rows(db)
    assert row.status == "queued" and row.attempts == 1
    assert (row.next_attempt_at - utcnow()).total_seconds() <= media_requests.RETRY_BASE_S + 1


async def _queued_for_long(db, client, bob, drafts) -> None:
    """Requests queued during an outage that have backed off to the production cap (900 s)."""
    for draft in drafts:
        await _submit(db, bob, draft, client)
    await db.exec(sa.update(MediaRequest).values(attempts=7, next_attempt_at=utcnow() + timedelta(seconds=900)))
    await db.commit()


async def test_a_webhook_from_overseerr_sends_the_waiting_requests_at_once(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(status=503)
    await _queued_for_long(db, client, bob, (DUNE, OPPENHEIMER))
    overseerr.sim.clear_faults()
    assert await media_requests.deliver_due(session_scope, client) == 0  # waiting out the backoff
    assert await media_requests.sync_by_overseerr_id(session_scope, client, 12345) == 0  # any webhook
    assert await media_requests.deliver_due(session_scope, client) == 2
    assert [r.status for r in await _rows(db)] == ["pending", "pending"]


async def test_once_one_request_gets_through_the_waiting_ones_follow_in_the_same_run(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    await media_requests.overseerr_user_id(db, bob.id, client)
    overseerr.sim.set_faults(status=503)
    await _queued_for_long(db, client, bob, (DUNE, OPPENHEIMER))
    overseerr.sim.clear_faults()
    first = (await _rows(db))[0]
    await db.exec(sa.update(MediaRequest).where(MediaRequest.id == first.id).values(
        next_attempt_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    assert await media_requests.deliver_due(session_scope, client) == 2
    assert [r.status for r in await _rows(db)] == ["pending", "pending"]
    assert len(overseerr.sim.state()["requests"]) == 2


async def test_a_lost_answer_for_a_title_declined_before_is_adopted_not_sent_again(db, overseerr):
    bob = await _member(db, "bob", 1002)
    admin = await _member(db, "alice", 1001, role="admin")
    client = _client(overseerr, timeout=1.0)
    first = await _submit(db, bob, DUNE, client)
    await media_requests.decide(db, actor=admin, request_id=first.row.id, approve=False, overseerr=client)
    overseerr.sim.set_faults(status=504)
    again = await _submit(db, bob, DUNE, client)
    assert again.row.status == "queued"
    overseerr.sim.clear_faults()
    # The attempt did reach Overseerr (only its answer was lost). Overseerr checks a title's first
    # request for duplicates, and that one is declined, so a re-send would be accepted too.
    lost = await client.create_request("movie", DUNE.tmdb_id, as_user=2)
    await _make_due(db)
    assert await media_requests.deliver_due(session_scope, client) == 1
    rows = await _rows(db)
    assert [(r.status, r.overseerr_request_id) for r in rows] == [
        ("declined", first.row.overseerr_request_id), ("pending", lost.id)]
    remote = overseerr.sim.state()["requests"]
    assert [(r["id"], r["status"]) for r in remote] == [(first.row.overseerr_request_id, 3), (lost.id, 1)]


async def test_a_retry_does_not_adopt_a_request_another_row_stands_for(db, overseerr):
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr, timeout=1.0)
    season_one = await _submit(db, bob, Draft("tv", SEVERANCE, "Severance", seasons=(1,)), client)
    assert season_one.row.status == "pending"
    overseerr.sim.set_faults(status=503)
    both = await _submit(db, bob, Draft("tv", SEVERANCE, "Severance", seasons=(1, 2)), client)
    assert both.row.status == "queued"
    overseerr.sim.clear_faults()
    await _make_due(db)
    assert await media_requests.deliver_due(session_scope, client) == 1
    rows = await _rows(db)
    assert rows[1].status == "pending" and rows[1].overseerr_request_id != season_one.row.overseerr_request_id
    remote = {r["id"]: [s["seasonNumber"] for s in r["seasons"]] for r in overseerr.sim.state()["requests"]}
    assert remote[rows[1].overseerr_request_id] == [2]


@pytest.mark.parametrize("flavour", ["overseerr", "seerr"])
async def test_a_title_already_in_plex_is_never_requested(db, overseerr, flavour):
    # Seerr 3.1 answers 201 to a new request for an available title (Overseerr 409): MediaNest asks
    # afresh right before sending, whatever a cached search card said. The ask is saved first (as
    # every submission is) and ends "available", with the Plex link; nothing reaches Overseerr.
    overseerr.sim.set_flavour(flavour)
    bob = await _member(db, "bob", 1002)
    alice = await _member(db, "alice", 1001, role="admin")
    carol = await _member(db, "carol", 1003)
    client = _client(overseerr)
    first = await _submit(db, bob, DUNE, client)
    overseerr.sim.approve(first.row.overseerr_request_id)
    overseerr.sim.mark_available(first.row.overseerr_request_id)  # MediaNest has not heard of it yet
    outcome = await _submit(db, alice, DUNE, client)  # an admin: Seerr would even auto-approve it
    assert outcome.row.status == "available" and outcome.row.overseerr_request_id is None
    assert outcome.row.plex_url and outcome.row.plex_url.startswith("https://app.plex.tv/desktop#!/server/")
    assert "already available" in outcome.message
    assert len(overseerr.sim.state()["requests"]) == 1
    # Now MediaNest knows: nothing is even saved, the member is told at once.
    with pytest.raises(search.TitleAvailable) as info:
        await _submit(db, carol, DUNE, client)
    assert info.value.plex_url == outcome.row.plex_url
    assert (await db.exec(select(sa.func.count()).select_from(MediaRequest))).one() == 2
    # Seasons of a show that are in Plex are not requested either (Breaking Bad S1-2 are).
    outcome = await _submit(db, carol, Draft("tv", 1396, "Breaking Bad", seasons=(1, 2)), client)
    assert outcome.row.status == "available"
    assert len(overseerr.sim.state()["requests"]) == 1


async def test_when_overseerr_does_not_answer_what_medianest_knows_decides(db, overseerr):
    bob = await _member(db, "bob", 1002)
    carol = await _member(db, "carol", 1003)
    make_request(db, bob, title="Dune", media_type="movie", tmdb_id=DUNE.tmdb_id, status="available",
                 plex_url="https://app.plex.tv/desktop#!/server/x/details?key=1")
    await db.commit()
    overseerr.sim.set_faults(status=503)
    try:
        with pytest.raises(search.TitleAvailable) as info:
            await _submit(db, carol, DUNE, _client(overseerr))
        assert info.value.plex_url == "https://app.plex.tv/desktop#!/server/x/details?key=1"
        # Not known to be available: saved and queued for later, as before.
        queued = await _submit(db, carol, OPPENHEIMER, _client(overseerr))
        assert queued.row.status == "queued"
    finally:
        overseerr.sim.clear_faults()
    assert (await db.exec(select(sa.func.count()).select_from(MediaRequest))).one() == 2


async def test_a_queued_request_whose_title_reached_plex_meanwhile_is_not_sent(db, overseerr):
    # Submit checked availability once; by the retry the title is in Plex (Seerr would accept a
    # needless request with 201): the retry asks again and sends nothing.
    overseerr.sim.set_flavour("seerr")
    bob = await _member(db, "bob", 1002)
    client = _client(overseerr)
    overseerr.sim.set_faults(status=503)
    try:
        queued = await _submit(db, bob, DUNE, client)
    finally:
        overseerr.sim.clear_faults()
    assert queued.row.status == "queued"
    overseerr.sim.mark_media_available("movie", DUNE.tmdb_id)
    await db.exec(sa.update(MediaRequest).values(next_attempt_at=utcnow()))  # due now
    await db.commit()
    assert await media_requests.deliver_due(session_scope, client) == 1
    row = (await db.exec(select(MediaRequest))).one()
    await db.refresh(row)
    assert row.status == "available" and row.overseerr_request_id is None
    assert row.plex_url and row.plex_url.startswith("https://app.plex.tv/desktop#!/server/")
    assert overseerr.sim.state()["requests"] == []
    notes, _ = await notifications.unread(db, bob.id)
    assert [(n.title, n.link) for n in notes] == [("Dune is available", row.plex_url)]
