"""Circuit breakers across processes (Redis): every process's breakers on the System page, a reset
that reaches another process (a task worker's, here a child process), a process that missed the
reset catching up, and embedded mode without Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlmodel import select

from medianest import breaker_sync
from medianest.config import get_settings
from medianest.errors import ValidationFailed
from medianest.integrations.base import breaker_for, reset_breaker
from medianest.models import AuditLog, Role
from medianest.services import breaker_views
from tests.conftest import ROOT
from tests.factories import as_member, make_user


@pytest.fixture
async def redis_client():
    client = aioredis.from_url(get_settings().redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{get_settings().redis_prefix}breaker*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_breaker_reset_reaches_another_process(database_url, db, redis_client):
    child = subprocess.Popen([sys.executable, "-m", "tests.services.breaker_process"], cwd=ROOT,
                             stdin=subprocess.PIPE)
    try:
        reports: list[breaker_sync.ProcessReport] = []
        deadline = time.monotonic() + 30
        while not any(r.role == "worker" for r in reports):
            assert time.monotonic() < deadline and child.poll() is None, "the other process never reported"
            await asyncio.sleep(0.1)
            reports = await breaker_sync.reports(redis_client)
        (worker,) = [r for r in reports if r.role == "worker"]
        assert worker.process.endswith(f":{child.pid}")
        rows = {row.service: row for row in breaker_views.breaker_rows(reports)}
        assert rows["Overseerr"].state == "open" and "Open in worker" in rows["Overseerr"].text

        admin = make_user(db, username="alice", role=Role.ADMIN)
        await db.flush()
        outcome = await breaker_views.reset(db, actor=as_member(admin), service="Overseerr", redis=redis_client,
                                            client_ip="203.0.113.9")
        await db.commit()
        assert worker.process in outcome.confirmed and outcome.waiting == ()
        assert "reset in 1 process" in breaker_views.reset_sentence(outcome)
        after = {r.process: r for r in await breaker_sync.reports(redis_client)}[worker.process]
        assert [(b.service, b.state, b.failures) for b in after.breakers] == [("Overseerr", "closed", 0)]
        row = (await db.exec(select(AuditLog).where(AuditLog.action == "breaker.reset"))).one()
        assert row.target == "breaker:Overseerr" and row.details["confirmed"] == 1

        with pytest.raises(ValidationFailed):
            await breaker_views.reset(db, actor=as_member(admin), service="Nope", redis=redis_client, client_ip=None)
    finally:
        child.communicate(timeout=20)  # closing its input stops it; it says goodbye to Redis
    assert worker.process not in {r.process for r in await breaker_sync.reports(redis_client)}


async def test_a_process_that_missed_a_reset_catches_up_only_for_breakers_opened_before_it(redis_client):
    breaker = breaker_for("Uptime Kuma")
    try:
        breaker.open()
        at = datetime.now(UTC) + timedelta(seconds=1)
        await redis_client.hset(breaker_sync.resets_key(), "Uptime Kuma",
                                json.dumps({"id": "missed-reset", "at": at.isoformat()}))
        await breaker_sync._catch_up(redis_client)
        assert breaker.current_state == "closed" and "missed-reset" in breaker_sync.local_report().resets

        breaker.open()  # opened after that reset: a later catch-up leaves it open
        await redis_client.hset(breaker_sync.resets_key(), "Uptime Kuma",
                                json.dumps({"id": "older-reset", "at": (at - timedelta(seconds=5)).isoformat()}))
        await breaker_sync._catch_up(redis_client)
        assert breaker.current_state == "open"
    finally:
        reset_breaker("Uptime Kuma")


async def test_without_redis_a_reset_closes_this_processs_breaker(db):
    breaker = breaker_for("TMDB images")
    breaker.open()
    admin = make_user(db, username="alice", role=Role.ADMIN)
    await db.flush()
    outcome = await breaker_views.reset(db, actor=as_member(admin), service="TMDB images", redis=None, client_ip=None)
    assert breaker.current_state == "closed" and outcome.confirmed == (breaker_sync.process_name(),)
    rows = {row.service: row for row in (await breaker_views.read_breakers(None))[0]}
    assert rows["TMDB images"].state == "closed" and rows["Overseerr"].state in ("closed", "unused")
