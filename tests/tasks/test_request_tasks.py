"""Request tasks as the worker runs them: Overseerr coming back releases the queue at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import select

from medianest.config import get_settings
from medianest.integrations.base import breaker_for
from medianest.integrations.overseerr import OverseerrClient
from medianest.models import MediaRequest, utcnow
from medianest.simulators import fixtures
from medianest.tasks import requests as request_tasks
from medianest.tasks import status as status_tasks
from medianest.wiring import Registry
from tests.factories import make_request, make_user

DUNE, OPPENHEIMER = 438631, 872585


@pytest.fixture
def registry(monkeypatch, overseerr_server):
    """The tasks' settings pointing at the Overseerr simulator (with the production breaker)."""
    overseerr_server.sim.reset()
    settings = get_settings().model_copy(update={
        "overseerr_url": overseerr_server.url, "overseerr_api_key": SecretStr(fixtures.OVERSEERR_API_KEY),
        "http_timeout_s": 1.0})
    built = Registry(settings)
    for module in ("medianest.tasks.requests", "medianest.tasks.status"):
        monkeypatch.setattr(f"{module}.get_registry", lambda: built)
    yield built
    overseerr_server.sim.clear_faults()
    breaker_for(OverseerrClient.service).close()


async def _waiting(db) -> list[int]:
    """Two of bob's requests queued during an outage, backed off to the production cap (900 s)."""
    bob = make_user(db, username="bob", plex_id=1002, overseerr_user_id=2, overseerr_checked_at=utcnow())
    await db.commit()
    for tmdb_id, title in ((DUNE, "Dune"), (OPPENHEIMER, "Oppenheimer")):
        make_request(db, bob, title=title, media_type="movie", tmdb_id=tmdb_id, status="queued", attempts=7,
                     next_attempt_at=utcnow() + timedelta(seconds=900),
                     last_error="Overseerr is not answering; MediaNest will send it automatically.")
    await db.commit()
    return list((await db.exec(select(MediaRequest.id))).all())


async def _statuses(db) -> list[tuple[str, bool]]:
    rows = (await db.exec(select(MediaRequest).order_by(MediaRequest.id))).all()
    for row in rows:
        await db.refresh(row)
    return [(r.status, r.next_attempt_at is None or r.next_attempt_at <= utcnow()) for r in rows]


async def test_the_status_check_seeing_overseerr_up_again_sends_the_queue(db, registry, overseerr_server):
    await _waiting(db)
    overseerr_server.sim.set_faults(status=503)
    await status_tasks.check_services()  # Overseerr: down
    assert await request_tasks.deliver_queued() == 0  # the rows wait out their backoff
    overseerr_server.sim.clear_faults()
    assert await status_tasks.check_services() == 1  # down -> up
    assert await _statuses(db) == [("queued", True), ("queued", True)]
    assert await request_tasks.deliver_queued() == 2  # what the task sent from the status check runs
    assert [s for s, _ in await _statuses(db)] == ["pending", "pending"]


async def test_the_breaker_closing_after_an_outage_releases_the_queue(db, registry, overseerr_server):
    await _waiting(db)
    client = registry.overseerr()
    breaker = breaker_for(OverseerrClient.service)
    breaker.fail_max, breaker.reset_timeout = 1, 0.3
    try:
        overseerr_server.sim.set_faults(status=503)
        with pytest.raises(Exception):  # noqa: B017 - the failure that opens the breaker
            await client.status()
        assert breaker.current_state == "open"
        overseerr_server.sim.clear_faults()
        await asyncio.sleep(0.4)
        await client.status()  # the trial call gets through: the breaker closes
        assert breaker.current_state == "closed"
        for _ in range(30):
            if await _statuses(db) == [("queued", True), ("queued", True)]:
                break
            await asyncio.sleep(0.1)
        assert await _statuses(db) == [("queued", True), ("queued", True)]
    finally:
        breaker.fail_max, breaker.reset_timeout = 5, 30.0


async def test_the_status_check_releases_only_rows_waiting_for_overseerr_to_answer(db, registry, overseerr_server):
    await _waiting(db)
    refused = (await db.exec(select(MediaRequest).where(MediaRequest.tmdb_id == OPPENHEIMER))).one()
    refused.last_error = "Overseerr did not accept MediaNest's API key; MediaNest will try again."
    db.add(refused)
    await db.commit()
    # Overseerr answers on every check (no down -> up change, e.g. its card comes from a Kuma
    # monitor of the same name): the row that waits because Overseerr did not answer goes now,
    # the one refused for another reason keeps its backoff.
    await status_tasks.check_services()
    await status_tasks.check_services()
    assert await _statuses(db) == [("queued", True), ("queued", False)]


async def test_a_kuma_monitor_named_overseerr_does_not_hide_overseerr_coming_back(db, monkeypatch, overseerr_server,
                                                                                    kuma_server):
    # The household's Kuma watches Overseerr too, so the board shows Kuma's card (always "up"
    # here) and MediaNest's own check never shows a change: the queue must still be released.
    from medianest.launcher import SIMULATED_KUMA

    kuma_server.sim.reset()
    overseerr_server.sim.reset()
    settings = get_settings().model_copy(update={
        "overseerr_url": overseerr_server.url, "overseerr_api_key": SecretStr(fixtures.OVERSEERR_API_KEY),
        "http_timeout_s": 1.0, "uptime_kuma_url": kuma_server.url,
        "uptime_kuma_api_key": SecretStr(SIMULATED_KUMA["UPTIME_KUMA_API_KEY"])})
    built = Registry(settings)
    for module in ("medianest.tasks.requests", "medianest.tasks.status"):
        monkeypatch.setattr(f"{module}.get_registry", lambda: built)
    try:
        await _waiting(db)
        await status_tasks.check_services()
        keys = set((await db.exec(select(sa.text("service_name FROM service_status")))).all())
        assert "overseerr" not in keys  # Kuma's "Overseerr" monitor stands for it on the board
        assert await _statuses(db) == [("queued", True), ("queued", True)]
    finally:
        breaker_for(OverseerrClient.service).close()
