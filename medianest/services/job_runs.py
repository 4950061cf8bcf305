"""What the task processes are doing, for the admin's Jobs page: each task's last run (when, how
long, its outcome and result), the runs in progress, the admin's last "Run now" of each task, the
scheduler's last send of each schedule, and the queue per kind of task.

Written where tasks are sent (just before) and run (``metrics.TaskMetricsMiddleware``): into Redis in
production (the worker and scheduler processes are not the web processes), into this process in
embedded mode (where the web process sends and runs every task). Nothing here may fail a task:
the callers swallow errors. Each worker process also beats a heartbeat: a run recorded by a worker
that stopped beating (killed mid-task) is not shown as running for ever.

The queue comes from the task stream in production: entries the worker group has not taken yet
are waiting, entries taken but not acknowledged are running or waiting inside a worker for a free
slot (a task is acknowledged once its result is saved). Embedded mode has no queue of its own:
the in-memory broker starts a task as soon as it is sent (up to 30 at once), so what it can show
is what was sent and has not started, and what runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from ..errors import MediaNestError
from ..models import utcnow

logger = logging.getLogger(__name__)

#: ``trigger`` label values: sent by the scheduler, or by an admin's "Run now". Other sends (a
#: task queuing another, a member's download) carry none.
SCHEDULE = "schedule"
MANUAL = "manual"
#: The task stream's consumer group (``tasks/broker.py``).
WORKER_GROUP = "medianest-workers"
#: At most this many stream entries are read to count the queue by kind.
SCAN_LIMIT = 1000
#: Each worker process says it is alive this often (``metrics.TaskMetricsMiddleware``)...
HEARTBEAT_S = 10
#: ...and one silent for this long is gone: the runs it recorded are not running any more.
WORKER_GONE_S = 35
#: The Jobs board was read this recently: task events are worth publishing (see ``watch``).
WATCH_TTL_S = 60


def task_stream(prefix: str) -> str:
    """The Redis stream the tasks travel on."""
    return f"{prefix}tasks"


def _keys(prefix: str) -> dict[str, str]:
    return {name: f"{prefix}jobs:{name}" for name in ("last", "manual", "running", "sent", "workers", "watched")}


@dataclass(frozen=True)
class Run:
    """One run of a task: waiting (sent, not started), running, or finished (success / error)."""

    task: str
    trigger: str
    state: str
    #: ISO 8601 (UTC): when it was sent (waiting) or started.
    at: str
    seconds: float | None = None
    #: The task's return value (short), or for an error its kind and a plain sentence.
    result: str = ""
    worker: str = ""


@dataclass(frozen=True)
class Activity:
    last: dict[str, Run] = field(default_factory=dict)
    manual: dict[str, Run] = field(default_factory=dict)
    running: dict[str, list[Run]] = field(default_factory=dict)
    #: The scheduler's last send per task (ISO 8601).
    sent: dict[str, str] = field(default_factory=dict)
    #: Embedded mode only: sent and not started yet, per task.
    waiting: dict[str, int] = field(default_factory=dict)
    #: False when Redis did not answer (nothing above is known then).
    known: bool = True


@dataclass(frozen=True)
class StreamQueue:
    """The task stream by kind: ``waiting`` not taken by a worker yet, ``taken`` by a worker and not
    acknowledged (running, or waiting inside the worker)."""

    waiting: dict[str, int]
    taken: dict[str, int]
    #: False when more entries wait than were read (the counts are then the oldest ``SCAN_LIMIT``).
    complete: bool
    #: Worker processes alive (their heartbeat is recent).
    workers: int
    #: False when Redis did not answer.
    known: bool = True


# ---- embedded mode: this process -----------------------------------------------------------

_local: dict[str, dict[str, Run]] = {"last": {}, "manual": {}, "running": {}}
_local_sent: dict[str, str] = {}
_local_waiting: dict[str, int] = defaultdict(int)
_local_watched_until = [0.0]


def reset_local() -> None:
    """Forget what this process recorded (tests)."""
    for table in _local.values():
        table.clear()
    _local_sent.clear()
    _local_waiting.clear()
    _local_watched_until[0] = 0.0


def _dump(run: Run) -> str:
    return json.dumps(asdict(run))


def _load(raw: bytes | str) -> Run | None:
    try:
        return Run(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def describe(value: Any) -> str:
    """A task's return value as the Jobs page shows it (numbers and short texts only)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value[:80]
    return ""


def describe_error(error: BaseException | None) -> str:
    """The kind of error and, for MediaNest's own errors, their plain sentence. Never the raw
    exception text: it may quote a URL, a header or a path (it is in the worker's log)."""
    if error is None:
        return "failed"
    if isinstance(error, MediaNestError):
        return f"{type(error).__name__}: {error.user_message}"[:300]
    return f"{type(error).__name__} (see the worker log)"


# ---- recording -------------------------------------------------------------------------------

async def sent(client: aioredis.Redis | None, prefix: str, *, task: str, trigger: str) -> None:
    """A task was sent: the scheduler's sends give the next run; a manual one shows as waiting. In
    embedded mode every send is counted (the queue is what was sent and has not started)."""
    now = utcnow().isoformat()
    keys = _keys(prefix)
    run = Run(task=task, trigger=trigger, state="waiting", at=now)
    if client is None:
        _local_waiting[task] += 1
        if trigger == SCHEDULE:
            _local_sent[task] = now
        elif trigger == MANUAL:
            _local["manual"][task] = run
        return
    if trigger in (SCHEDULE, MANUAL):
        async with client.pipeline(transaction=False) as pipe:  # (hash commands are typed as maybe-sync)
            if trigger == SCHEDULE:
                pipe.hset(keys["sent"], task, now)
            else:
                pipe.hset(keys["manual"], task, _dump(run))
            await pipe.execute()


async def started(client: aioredis.Redis | None, prefix: str, *, task_id: str, task: str, trigger: str,
                  worker: str) -> None:
    run = Run(task=task, trigger=trigger, state="running", at=utcnow().isoformat(), worker=worker)
    if client is None:
        _local_waiting[task] -= 1
        _local["running"][task_id] = run
        if trigger == MANUAL:
            _local["manual"][task] = run
        return
    keys = _keys(prefix)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys["running"], task_id, _dump(run))
        if trigger == MANUAL:
            pipe.hset(keys["manual"], task, _dump(run))
        await pipe.execute()


async def finished(client: aioredis.Redis | None, prefix: str, *, task_id: str, task: str, trigger: str,
                   seconds: float, ok: bool, result: str) -> None:
    began = _local["running"].pop(task_id, None) if client is None else None
    start = began.at if began is not None else utcnow().isoformat()
    keys = _keys(prefix)
    if client is not None:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hget(keys["running"], task_id)
            (raw,) = await pipe.execute()
        before = _load(raw) if raw else None
        start = before.at if before is not None else start
    run = Run(task=task, trigger=trigger, state="success" if ok else "error", at=start, seconds=round(seconds, 3),
              result=result)
    if client is None:
        _local["last"][task] = run
        if trigger == MANUAL:
            _local["manual"][task] = run
        return
    async with client.pipeline(transaction=True) as pipe:  # never "not running" without its outcome
        pipe.hdel(keys["running"], task_id)
        pipe.hset(keys["last"], task, _dump(run))
        if trigger == MANUAL:
            pipe.hset(keys["manual"], task, _dump(run))
        await pipe.execute()


async def heartbeat(client: aioredis.Redis, prefix: str, worker: str) -> None:
    """A worker process is alive (every ``HEARTBEAT_S``): its running tasks are really running."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(_keys(prefix)["workers"], worker, utcnow().isoformat())
        await pipe.execute()


async def worker_stopped(client: aioredis.Redis, prefix: str, worker: str) -> None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.hdel(_keys(prefix)["workers"], worker)
        await pipe.execute()


async def watch(client: aioredis.Redis | None, prefix: str) -> None:
    """Someone reads the Jobs board (an admin's tab is linked to it): for ``WATCH_TTL_S`` the task
    processes publish a live event whenever a task is sent, starts or ends. Nobody watching, they
    publish nothing (the status checks alone would add several events a second in a busy setup)."""
    if client is None:
        _local_watched_until[0] = time.monotonic() + WATCH_TTL_S
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(_keys(prefix)["watched"], "1", ex=WATCH_TTL_S)
        await pipe.execute()


async def watched(client: aioredis.Redis | None, prefix: str) -> bool:
    if client is None:
        return _local_watched_until[0] > time.monotonic()
    async with client.pipeline(transaction=False) as pipe:
        pipe.exists(_keys(prefix)["watched"])
        (found,) = await pipe.execute()
    return bool(found)


# ---- reading ---------------------------------------------------------------------------------

def _runs(raw: dict[Any, Any]) -> dict[str, Run]:
    out = {}
    for key, value in raw.items():
        run = _load(value)
        if run is not None:
            out[key.decode() if isinstance(key, bytes) else str(key)] = run
    return out


async def _live_workers(client: aioredis.Redis, prefix: str) -> set[str]:
    """The worker processes whose heartbeat is recent (the others are forgotten)."""
    key = _keys(prefix)["workers"]
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(key)
        (raw,) = await pipe.execute()
    now, alive, gone = utcnow(), set(), []
    for name, stamp in raw.items():
        worker = name.decode() if isinstance(name, bytes) else str(name)
        seen = when(stamp.decode() if isinstance(stamp, bytes) else str(stamp))
        if seen is not None and (now - seen).total_seconds() <= WORKER_GONE_S:
            alive.add(worker)
        else:
            gone.append(worker)
    if gone:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hdel(key, *gone)
            await pipe.execute()
    return alive


async def activity(client: aioredis.Redis | None, prefix: str) -> Activity:
    """Everything recorded, with the runs of workers that are gone left out (and forgotten)."""
    if client is None:
        running: dict[str, list[Run]] = defaultdict(list)
        for run in _local["running"].values():
            running[run.task].append(run)
        return Activity(last=dict(_local["last"]), manual=dict(_local["manual"]), running=dict(running),
                        sent=dict(_local_sent), waiting={k: max(0, v) for k, v in _local_waiting.items() if v > 0})
    keys = _keys(prefix)
    async with client.pipeline(transaction=False) as pipe:
        for name in ("last", "manual", "running", "sent"):
            pipe.hgetall(keys[name])
        last, manual, running_raw, sent_raw = await pipe.execute()
    workers = await _live_workers(client, prefix)
    by_task: dict[str, list[Run]] = defaultdict(list)
    gone = []
    for task_id, run in _runs(running_raw).items():
        if run.worker not in workers:
            gone.append(task_id)  # its worker died mid-run: it will not finish
            continue
        by_task[run.task].append(run)
    if gone:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hdel(keys["running"], *gone)
            await pipe.execute()
    manual_runs = _runs(manual)
    for task, run in manual_runs.items():
        if run.state == "running" and not any(r.trigger == MANUAL for r in by_task.get(task, [])):
            manual_runs[task] = Run(task=task, trigger=MANUAL, state="lost", at=run.at, worker=run.worker)
    sent_at = {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
               for k, v in sent_raw.items()}
    return Activity(last=_runs(last), manual=manual_runs, running=dict(by_task), sent=sent_at)


def _task_of(fields: dict[Any, Any]) -> str:
    raw = fields.get(b"data") or fields.get("data") or b""
    try:
        return str(json.loads(raw).get("task_name") or "?")
    except (TypeError, ValueError, AttributeError):
        return "?"


async def stream_queue(client: aioredis.Redis, prefix: str, *, limit: int = SCAN_LIMIT) -> StreamQueue:
    """The task stream by kind (see the module docstring)."""
    stream = task_stream(prefix)
    try:
        groups = await client.xinfo_groups(stream)
    except aioredis.ResponseError:  # the stream does not exist: nothing was ever sent
        return StreamQueue(waiting={}, taken={}, complete=True, workers=len(await _live_workers(client, prefix)))
    group = next((g for g in groups if (g.get("name") or b"") in (WORKER_GROUP, WORKER_GROUP.encode())), None)
    waiting: dict[str, int] = defaultdict(int)
    taken: dict[str, int] = defaultdict(int)
    if group is None:  # no worker ever joined: every entry waits
        entries = await client.xrange(stream, count=limit + 1)
        lag = len(entries)
        workers = len(await _live_workers(client, prefix))
    else:
        last_id = group.get("last-delivered-id") or b"0-0"
        last = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
        entries = await client.xrange(stream, min=f"({last}", count=limit + 1)
        lag = int(group.get("lag") or len(entries))
        workers = len(await _live_workers(client, prefix))
        pending = await client.xpending_range(stream, WORKER_GROUP, min="-", max="+", count=limit)
        if pending:
            async with client.pipeline(transaction=False) as pipe:
                for item in pending:
                    pipe.xrange(stream, min=item["message_id"], max=item["message_id"], count=1)
                for found in await pipe.execute():
                    for _id, fields in found:
                        taken[_task_of(fields)] += 1
    for _id, fields in entries[:limit]:
        waiting[_task_of(fields)] += 1
    return StreamQueue(waiting=dict(waiting), taken=dict(taken), complete=lag <= limit, workers=workers)


def when(value: str) -> datetime | None:
    """An ISO time recorded here, back as a datetime (None if empty or unreadable)."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
