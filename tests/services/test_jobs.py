"""The Jobs page's services on PostgreSQL and Redis: what the task middleware records (last run,
outcome, Run now, the scheduler's sends), the schedule rows and their next run, the queue per
kind from the task stream, and Retry of a failed delivery or download through the page's calls."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pybreaker
import pytest
import redis.asyncio as aioredis
from sqlmodel import select
from taskiq import TaskiqMessage, TaskiqResult
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from medianest import live
from medianest.config import get_settings
from medianest.db import as_utc, session_scope
from medianest.errors import IntegrationRejected, IntegrationUnavailable, NotFound, ValidationFailed
from medianest.integrations.overseerr import OverseerrClient
from medianest.metrics import TaskMetricsMiddleware
from medianest.models import (
    AuditLog,
    ItemState,
    MediaRequest,
    RequestStatus,
    YoutubeDownload,
    YoutubeDownloadItem,
    utcnow,
)
from medianest.services import job_runs, jobs, media_requests
from medianest.simulators import fixtures
from tests.factories import as_member, make_request, make_user


@pytest.fixture
async def redis_client():
    client = aioredis.from_url(get_settings().redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own: its stream, group and records are not shared."""
    return f"{get_settings().redis_prefix}{uuid.uuid4().hex[:8]}:"


async def _worker(client: aioredis.Redis, prefix: str, name: str) -> None:
    """A worker named ``name`` that is alive (its heartbeat, as ``taskiq worker`` beats it)."""
    await job_runs.heartbeat(client, prefix, name)


def _message(task: str, trigger: str = "") -> TaskiqMessage:
    labels = {"trigger": trigger} if trigger else {}
    return TaskiqMessage(task_id=uuid.uuid4().hex, task_name=task, labels=labels, args=[], kwargs={})


def _middleware(prefix: str, worker: str) -> TaskMetricsMiddleware:
    middleware = TaskMetricsMiddleware(get_settings().redis_url, prefix)
    broker = RedisStreamBroker(get_settings().redis_url, queue_name=job_runs.task_stream(prefix),
                               consumer_group_name=job_runs.WORKER_GROUP, consumer_name=worker)
    middleware.set_broker(broker)
    return middleware


async def test_the_middleware_records_each_run_its_outcome_and_a_run_now(redis_client, prefix):
    await _worker(redis_client, prefix, "worker-a")
    middleware = _middleware(prefix, "worker-a")

    scheduled = _message("requests.sync", job_runs.SCHEDULE)
    await middleware.pre_send(scheduled)
    await middleware.pre_execute(scheduled)
    during = await job_runs.activity(redis_client, prefix)
    assert [r.state for r in during.running["requests.sync"]] == ["running"]
    assert "requests.sync" in during.sent and "requests.sync" not in during.last
    await middleware.post_execute(scheduled, TaskiqResult(is_err=False, return_value=3, execution_time=0.1))

    manual = _message("requests.sync", job_runs.MANUAL)
    await middleware.pre_send(manual)
    assert (await job_runs.activity(redis_client, prefix)).manual["requests.sync"].state == "waiting"
    await middleware.pre_execute(manual)
    assert (await job_runs.activity(redis_client, prefix)).manual["requests.sync"].state == "running"
    await middleware.post_execute(manual, TaskiqResult(is_err=True, return_value=None, execution_time=0.1,
                                                       error=RuntimeError("http://secret@host failed")))

    after = await job_runs.activity(redis_client, prefix)
    assert after.running == {}
    last, run_now = after.last["requests.sync"], after.manual["requests.sync"]
    assert (last.state, last.trigger, run_now.state) == ("error", job_runs.MANUAL, "error")
    assert last.result == "RuntimeError (see the worker log)"  # never the raw text: it may hold a secret
    assert last.seconds is not None and last.seconds >= 0

    rows = jobs.schedule_rows(jobs.schedules(get_settings()), after, now=utcnow())
    row = next(r for r in rows if r.task_name == "requests.sync")
    assert (row.last_state, row.last_trigger, row.manual_state, row.running) == ("error", "Run now", "error", 0)


async def test_a_run_whose_worker_is_gone_is_not_shown_running(redis_client, prefix):
    await _worker(redis_client, prefix, "worker-a")
    alive, dead = _middleware(prefix, "worker-a"), _middleware(prefix, "worker-gone")
    await alive.pre_execute(_message("status.check", job_runs.SCHEDULE))
    await dead.pre_execute(_message("requests.sync", job_runs.MANUAL))
    found = await job_runs.activity(redis_client, prefix)
    assert list(found.running) == ["status.check"]
    assert found.manual["requests.sync"].state == "lost"
    keys = await redis_client.hlen(f"{prefix}jobs:running")
    assert keys == 1  # the dead worker's record is forgotten


async def test_schedule_rows_show_interval_last_result_and_next_run():
    settings = get_settings().model_copy(update={"request_sync_interval_s": 120})
    now = utcnow()
    sent = (now - timedelta(seconds=30)).isoformat()
    runs = job_runs.Activity(
        last={"requests.sync": job_runs.Run(task="requests.sync", trigger=job_runs.SCHEDULE, state="success", at=sent,
                                             seconds=0.25, result="2")},
        sent={"requests.sync": sent, "status.check": (now - timedelta(hours=1)).isoformat()})
    rows = {r.task_name: r for r in jobs.schedule_rows(jobs.schedules(settings), runs, now=now)}
    sync = rows["requests.sync"]
    assert (sync.label, sync.every, sync.last_state, sync.last_result, sync.last_seconds, sync.last_trigger) == (
        "Request sync", "every 2 min", "success", "2 members saw a change", "0.25 s", "scheduled")
    assert as_utc(job_runs.when(sync.next_at)) == as_utc(job_runs.when(sent)) + timedelta(seconds=120)
    assert not sync.late
    assert rows["status.check"].late  # sent an hour ago, every minute: the scheduler stopped
    assert rows["downloads.sync"].next_at == "" and rows["downloads.sync"].last_state == ""
    assert {r.label for r in rows.values()} >= {"Status checks", "Request sync", "Request retry", "Playlist sync",
                                                "Cleanup: status history", "Cleanup: ended sessions"}
    assert [jobs.every(n) for n in (1, 30, 900, 21600, 86400)] == [
        "every second", "every 30 s", "every 15 min", "every 6 h", "every day"]


async def test_the_queue_per_kind_comes_from_the_task_stream(redis_client, prefix):
    broker = RedisStreamBroker(get_settings().redis_url, queue_name=job_runs.task_stream(prefix),
                               consumer_group_name=job_runs.WORKER_GROUP, consumer_name="worker-a")
    empty = await job_runs.stream_queue(redis_client, prefix)
    assert (empty.waiting, empty.workers) == ({}, 0)
    for task in ("downloads.item", "downloads.item", "requests.sync"):
        await AsyncKicker(task_name=task, broker=broker, labels={}).kiq()
    nobody = await job_runs.stream_queue(redis_client, prefix)
    assert nobody.waiting == {"downloads.item": 2, "requests.sync": 1} and nobody.workers == 0

    # A worker takes two messages (the oldest: both downloads) and has started one of them.
    stream = job_runs.task_stream(prefix)
    await _worker(redis_client, prefix, "worker-a")
    await redis_client.xgroup_create(stream, job_runs.WORKER_GROUP, id="0")
    await redis_client.xreadgroup(job_runs.WORKER_GROUP, "worker-a", {stream: ">"}, count=2)
    await _middleware(prefix, "worker-a").pre_execute(_message("downloads.item"))
    queue = await job_runs.stream_queue(redis_client, prefix)
    assert (queue.waiting, queue.taken, queue.workers, queue.complete) == (
        {"requests.sync": 1}, {"downloads.item": 2}, 1, True)
    runs = await job_runs.activity(redis_client, prefix)
    rows = {r.task_name: (r.waiting, r.running) for r in jobs.queue_rows(jobs.schedules(get_settings()), runs, queue)}
    assert rows == {"downloads.item": (1, 1), "requests.sync": (1, 0)}
    await broker.shutdown()


async def test_embedded_mode_shows_what_was_sent_and_not_started():
    job_runs.reset_local()
    try:
        for _ in range(3):
            await job_runs.sent(None, "", task="downloads.item", trigger="")
        await job_runs.started(None, "", task_id="t1", task="downloads.item", trigger="", worker="")
        runs = await job_runs.activity(None, "")
        rows = jobs.queue_rows(jobs.schedules(get_settings()), runs, None)
        assert [(r.task_name, r.waiting, r.running) for r in rows] == [("downloads.item", 2, 1)]
        await job_runs.finished(None, "", task_id="t1", task="downloads.item", trigger="", seconds=1.5, ok=True,
                                result="done")
        assert (await job_runs.activity(None, "")).last["downloads.item"].result == "done"
    finally:
        job_runs.reset_local()


async def test_run_now_sends_the_schedules_task_and_leaves_an_audit_row(db):
    alice = make_user(db, username="alice", role="admin")
    await db.commit()
    sent: list[str] = []

    async def kick(name: str) -> None:
        sent.append(name)

    text = await jobs.run_now(db, actor=as_member(alice), task_name="requests.sync", settings=get_settings(),
                              kick=kick)
    assert text == "Request sync was started." and sent == ["requests.sync"]
    with pytest.raises(NotFound):
        await jobs.run_now(db, actor=as_member(alice), task_name="downloads.item", settings=get_settings(), kick=kick)

    async def broken(name: str) -> None:
        raise ConnectionError("redis down")

    with pytest.raises(IntegrationUnavailable, match="task queue"):
        await jobs.run_now(db, actor=as_member(alice), task_name="status.check", settings=get_settings(), kick=broken)
    audit = (await db.exec(select(AuditLog.action, AuditLog.target))).all()
    assert audit == [("job.run_now", "task:requests.sync")]


def _overseerr(handle) -> OverseerrClient:
    return OverseerrClient(handle.url, api_key=fixtures.OVERSEERR_API_KEY, timeout=3.0,
                           breaker=pybreaker.CircuitBreaker(fail_max=1000, exclude=[IntegrationRejected]))


async def test_retry_of_a_failed_delivery_sends_it_through_the_retry_task(db, overseerr_server):
    overseerr_server.sim.reset()
    alice = make_user(db, username="alice", role="admin", plex_id=1001)
    bob = make_user(db, username="bob", plex_id=1002)
    await db.commit()
    later = utcnow() + timedelta(minutes=10)
    waiting = make_request(db, bob, title="Dune", tmdb_id=438631, attempts=2, next_attempt_at=later,
                           last_error=media_requests.UNREACHABLE_NOTE)
    refused = make_request(db, bob, title="Oppenheimer", tmdb_id=872585, status=RequestStatus.REFUSED,
                           last_error="Your Overseerr request quota is used up for now.")
    make_request(db, bob, title="Pending one", status=RequestStatus.PENDING)
    await db.commit()
    listed = {d.title: d for d in await jobs.failed_deliveries(db)}
    assert set(listed) == {"Dune", "Oppenheimer"}
    assert (listed["Dune"].label, listed["Dune"].attempts) == ("Waiting to retry", 2)
    assert (listed["Oppenheimer"].label, listed["Oppenheimer"].error) == (
        "Refused", "Your Overseerr request quota is used up for now.")

    client, kicked = _overseerr(overseerr_server), []

    async def kick(name: str) -> None:  # what the worker does with requests.deliver
        kicked.append(name)
        await media_requests.deliver_due(session_scope, client)

    for row in (waiting, refused):
        async with session_scope() as session:
            await jobs.retry_delivery(session, actor=as_member(alice), request_id=row.id, timeout_s=3.0, kick=kick)
    assert kicked == ["requests.deliver", "requests.deliver"]
    async with session_scope() as session:
        rows = {r.title: r for r in (await session.exec(select(MediaRequest))).all()}
        assert rows["Dune"].status == RequestStatus.PENDING.value and rows["Dune"].overseerr_request_id
        assert rows["Oppenheimer"].status == RequestStatus.PENDING.value
        assert await jobs.failed_deliveries(session) == []
        with pytest.raises(ValidationFailed, match="not waiting to be sent"):
            await jobs.retry_delivery(session, actor=as_member(alice), request_id=rows["Pending one"].id,
                                      timeout_s=3.0, kick=kick)
        with pytest.raises(NotFound):
            await jobs.retry_delivery(session, actor=as_member(alice), request_id=999999, timeout_s=3.0, kick=kick)
        actions = (await session.exec(select(AuditLog.action, AuditLog.target).where(
            AuditLog.action == "job.retry_delivery").order_by(AuditLog.id))).all()
    assert actions == [("job.retry_delivery", f"request:{waiting.id}"), ("job.retry_delivery", f"request:{refused.id}")]
    assert len(overseerr_server.sim.state()["requests"]) == 2


async def test_a_delivery_being_sent_right_now_is_not_sent_twice(db):
    alice = make_user(db, username="alice", role="admin")
    bob = make_user(db, username="bob")
    await db.commit()
    leased = make_request(db, bob, title="In flight", attempts=1, last_error="x",
                          next_attempt_at=utcnow() + timedelta(seconds=5))
    await db.commit()

    async def kick(name: str) -> None:
        raise AssertionError("nothing may be sent")

    with pytest.raises(ValidationFailed, match="being sent right now"):
        await jobs.retry_delivery(db, actor=as_member(alice), request_id=leased.id, timeout_s=3.0, kick=kick)


async def test_retry_of_a_failed_download_queues_the_video_again(db):
    alice = make_user(db, username="alice", role="admin")
    bob = make_user(db, username="bob")
    await db.commit()
    download = YoutubeDownload(user_id=bob.id, url="https://www.youtube.com/playlist?list=x", kind="playlist",
                               title="Holiday", folder="bob/Holiday", status="failed")
    db.add(download)
    await db.flush()
    failed = YoutubeDownloadItem(download_id=download.id, user_id=bob.id, entry_id="a", title="Clip 1",
                                 url="https://www.youtube.com/watch?v=a", status=ItemState.FAILED.value,
                                 error="The video is private.", finished_at=utcnow())
    done = YoutubeDownloadItem(download_id=download.id, user_id=bob.id, entry_id="b", title="Clip 2", position=2,
                               url="https://www.youtube.com/watch?v=b", status=ItemState.DONE.value)
    db.add_all([failed, done])
    await db.commit()
    (listed,) = await jobs.failed_downloads(db)
    assert (listed.title, listed.download_title, listed.member, listed.error) == (
        "Clip 1", "Holiday", "bob", "The video is private.")

    queued: list[list[int]] = []

    async def queue(ids: list[int]) -> None:
        queued.append(ids)

    async with session_scope() as session:
        text = await jobs.retry_download(session, actor=as_member(alice), item_id=failed.id, queue=queue)
    assert text == "Clip 1 will be downloaded again." and queued == [[failed.id]]
    async with session_scope() as session:
        assert (await session.get(YoutubeDownloadItem, failed.id)).status == ItemState.QUEUED.value
        assert await jobs.failed_downloads(session) == []
        (audit,) = (await session.exec(select(AuditLog).where(AuditLog.action == "job.retry_download"))).all()
        assert audit.target == f"download:{download.id}" and audit.details["item"] == failed.id
        with pytest.raises(ValidationFailed):
            await jobs.retry_download(session, actor=as_member(alice), item_id=done.id, queue=queue)


async def test_the_overview_reads_redis_and_the_database(db, redis_client):
    settings = get_settings()
    keys = [k async for k in redis_client.scan_iter(match=f"{settings.redis_prefix}jobs:*")]
    if keys:
        await redis_client.delete(*keys)
    middleware = TaskMetricsMiddleware(settings.redis_url, settings.redis_prefix)
    message = _message("status.prune", job_runs.SCHEDULE)
    await middleware.pre_send(message)
    await middleware.pre_execute(message)
    await middleware.post_execute(message, TaskiqResult(is_err=False, return_value=7, execution_time=0.01))
    found = await jobs.overview(db, settings=settings)
    prune = next(r for r in found.schedules if r.task_name == "status.prune")
    assert (prune.last_state, prune.last_result, prune.every) == ("success", "7 history rows removed", "every 6 h")
    assert prune.next_at and not prune.late
    assert found.queue_note.startswith("From the task stream")
    assert found.deliveries == [] and found.downloads == []


async def test_a_worker_beats_while_it_runs_and_a_silent_one_is_gone(redis_client, prefix):
    middleware = _middleware(prefix, "worker-a")
    await middleware._start_heartbeat(None)
    try:
        for _ in range(50):
            if await redis_client.hexists(f"{prefix}jobs:workers", "worker-a"):
                break
            await asyncio.sleep(0.05)
        assert (await job_runs.stream_queue(redis_client, prefix)).workers == 1
    finally:
        await middleware._stop_heartbeat(None)
    assert not await redis_client.hexists(f"{prefix}jobs:workers", "worker-a")
    # A worker killed without stopping: its last beat grows old, then it no longer counts.
    stale = (utcnow() - timedelta(seconds=job_runs.WORKER_GONE_S + 5)).isoformat()
    await redis_client.hset(f"{prefix}jobs:workers", "worker-b", stale)
    assert (await job_runs.stream_queue(redis_client, prefix)).workers == 0


async def test_task_events_are_published_only_while_the_jobs_board_is_read(redis_client, prefix):
    """Nobody on the Jobs page: the status checks and the rest add nothing to the live stream."""
    await _worker(redis_client, prefix, "worker-a")
    middleware = _middleware(prefix, "worker-a")

    async def jobs_events_during(run) -> int:
        last = (await redis_client.xrevrange(live.stream_key(), count=1) or [(b"0-0", {})])[0][0]
        await run()
        found = await redis_client.xrange(live.stream_key(), min=f"({last.decode()}")
        return sum(1 for _, fields in found if json.loads(fields[b"data"]).get("type") == "jobs")

    async def one_run() -> None:
        message = _message("status.check", job_runs.SCHEDULE)
        await middleware.pre_send(message)
        await middleware.pre_execute(message)
        await middleware.post_execute(message, TaskiqResult(is_err=False, return_value=0, execution_time=0.01))

    assert await jobs_events_during(one_run) == 0
    await job_runs.watch(redis_client, prefix)  # what reading the board does (jobs.overview)
    assert await jobs_events_during(one_run) == 3  # sent, started, finished
    assert 0 < await redis_client.ttl(f"{prefix}jobs:watched") <= job_runs.WATCH_TTL_S
