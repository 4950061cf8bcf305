"""Circuit breakers across processes: what every process's breakers say, and a reset that reaches
them all.

Each web process and each task worker has breakers of its own (``integrations/base.py``): a
service failing in a worker's status checks opens the worker's breaker, not the web processes'.

- **Reports.** Every process writes its breakers to ``<prefix>breakers:<process>`` (JSON that
  expires after ``REPORT_TTL_S``) whenever one changes state and every ``HEARTBEAT_S``, and names
  itself in the set ``<prefix>breaker-processes``. A process that died drops out once its key expired.
- **Resets.** :func:`request_reset` records the reset in the hash ``<prefix>breaker-resets``
  (service -> id and time) and publishes it on the channel ``<prefix>breaker-reset``. Every
  process follows that channel (:func:`follow`: the web processes from a lifespan task, the task
  workers from Taskiq's worker start-up). A publication reaches every subscriber, unlike the live
  event stream, whose consumer group hands each event to one web process only. Each process
  closes its breaker of that service (which also zeroes its failure count) and reports at once,
  naming the reset, so the admin's page can wait for every process to confirm it. A process that
  was not subscribed at that moment (Redis restarting) reads the hash when it subscribes again
  and resets a breaker that opened before the reset, not one that opened since.
- **Embedded mode** (no Redis): one process; a reset closes its breakers directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pybreaker
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .config import get_settings
from .integrations.base import breaker_details, reset_breaker, watch_breakers
from .live import wait_or_stop

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
REPORT_TTL_S = 15
RESET_WAIT_S = 3.0


@dataclass(frozen=True)
class BreakerReport:
    """One breaker of one process."""

    service: str
    state: str                  # closed | open | half-open
    failures: int
    fail_max: int
    opened_at: datetime | None


@dataclass(frozen=True)
class ProcessReport:
    """What one process last said about its breakers."""

    process: str                # "web host:pid", "worker host:pid"
    role: str
    reported_at: datetime
    breakers: tuple[BreakerReport, ...]
    resets: tuple[str, ...]     # the ids of the latest resets it applied


@dataclass(frozen=True)
class ResetOutcome:
    reset_id: str
    service: str
    confirmed: tuple[str, ...]  # processes that applied the reset
    waiting: tuple[str, ...]    # processes that had not confirmed it when the wait ended


class _Process:
    """This process: its role and the resets it applied; ``wake`` asks the follower to report now."""

    def __init__(self) -> None:
        self.role = "web"
        self.applied: deque[str] = deque(maxlen=32)
        self.wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None


_me = _Process()


def process_name() -> str:
    return f"{_me.role} {socket.gethostname()}:{os.getpid()}"


def _prefix() -> str:
    return get_settings().redis_prefix


def channel() -> str:
    return f"{_prefix()}breaker-reset"


def resets_key() -> str:
    return f"{_prefix()}breaker-resets"


def processes_key() -> str:
    return f"{_prefix()}breaker-processes"


def report_key(process: str) -> str:
    return f"{_prefix()}breakers:{process}"


def local_report() -> ProcessReport:
    """This process's breakers as they are now."""
    return ProcessReport(
        process=process_name(), role=_me.role, reported_at=datetime.now(UTC),
        breakers=tuple(BreakerReport(service=b.name, state=b.state, failures=b.failures, fail_max=b.fail_max,
                                     opened_at=b.opened_at) for b in breaker_details()),
        resets=tuple(_me.applied))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _encode(report: ProcessReport) -> str:
    return json.dumps({"process": report.process, "role": report.role, "at": report.reported_at.isoformat(),
                       "resets": list(report.resets),
                       "breakers": [{"service": b.service, "state": b.state, "failures": b.failures,
                                     "fail_max": b.fail_max, "opened_at": _when(b.opened_at)}
                                    for b in report.breakers]})


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _decode(raw: bytes | str) -> ProcessReport | None:
    """A report as another process wrote it; None for anything malformed."""
    try:
        data = json.loads(raw)
        at = _time(data["at"])
        if at is None:
            return None
        breakers = tuple(BreakerReport(service=str(b["service"]), state=str(b["state"]), failures=int(b["failures"]),
                                       fail_max=int(b["fail_max"]),
                                       opened_at=_time(b["opened_at"]) if b.get("opened_at") else None)
                         for b in data["breakers"])
        return ProcessReport(process=str(data["process"]), role=str(data["role"]), reported_at=at,
                             breakers=breakers, resets=tuple(str(r) for r in data["resets"]))
    except (ValueError, KeyError, TypeError):
        return None


async def publish_report(client: aioredis.Redis) -> None:
    report = local_report()
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(report_key(report.process), _encode(report), ex=REPORT_TTL_S)
        pipe.sadd(processes_key(), report.process)
        await pipe.execute()


async def reports(client: aioredis.Redis | None) -> list[ProcessReport]:
    """Every live process's report (this process's own, fresh, in embedded mode)."""
    if client is None:
        return [local_report()]
    names = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in await client.smembers(processes_key()))
    if not names:
        return []
    values = await client.mget([report_key(n) for n in names])
    gone = [name for name, value in zip(names, values, strict=True) if value is None]
    if gone:
        await client.srem(processes_key(), *gone)
    found = [_decode(v) for v in values if v is not None]
    return [r for r in found if r is not None]


def apply_reset(reset_id: str, services: Iterable[str]) -> list[str]:
    """Reset this process's breakers of ``services``; returns those it had."""
    done = [service for service in services if reset_breaker(service)]
    _me.applied.append(reset_id)
    _wake()
    if done:
        logger.info("circuit breakers reset in %s: %s", process_name(), ", ".join(done))
    return done


async def request_reset(client: aioredis.Redis | None, service: str, *,
                        wait_s: float = RESET_WAIT_S) -> ResetOutcome:
    """Reset ``service``'s breaker in every process, then wait (at most ``wait_s``) until every
    live process confirmed it.

    Raises:
        RedisError: Redis did not take the reset (nothing was reset).
    """
    reset_id = uuid.uuid4().hex
    if client is None:
        apply_reset(reset_id, [service])
        return ResetOutcome(reset_id=reset_id, service=service, confirmed=(process_name(),), waiting=())
    at = datetime.now(UTC).isoformat()
    await client.hset(resets_key(), service, json.dumps({"id": reset_id, "at": at}))
    await client.publish(channel(), json.dumps({"id": reset_id, "services": [service], "at": at}))
    deadline = time.monotonic() + wait_s
    while True:
        found = await reports(client)
        confirmed = tuple(r.process for r in found if reset_id in r.resets)
        waiting = tuple(r.process for r in found if reset_id not in r.resets)
        if not waiting or time.monotonic() >= deadline:
            return ResetOutcome(reset_id=reset_id, service=service, confirmed=confirmed, waiting=waiting)
        await asyncio.sleep(0.1)


class _ReportChanges(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        _wake()


_listener = _ReportChanges()


def _wake() -> None:
    """Ask the follower to report now (safe from any thread; nothing happens without a follower)."""
    target = _me.wake
    if target is None:
        return
    loop, event = target
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_soon_threadsafe(event.set)


def _on_message(raw: Any) -> None:
    try:
        data = json.loads(raw)
        reset_id, services = str(data["id"]), [str(s) for s in data["services"]]
    except (ValueError, KeyError, TypeError):
        logger.warning("ignored a malformed breaker reset")
        return
    apply_reset(reset_id, services)


async def _catch_up(client: aioredis.Redis) -> None:
    """Resets published while this process was not subscribed: reset a breaker that opened before one."""
    recorded = await client.hgetall(resets_key())
    breakers = {b.name: b for b in breaker_details()}
    for field, value in recorded.items():
        service = field.decode() if isinstance(field, bytes) else str(field)
        try:
            data = json.loads(value)
            reset_id, at = str(data["id"]), _time(data["at"])
        except (ValueError, KeyError, TypeError):
            continue
        breaker = breakers.get(service)
        if (breaker is None or at is None or reset_id in _me.applied or breaker.state == pybreaker.STATE_CLOSED
                or breaker.opened_at is None or breaker.opened_at >= at):
            continue
        apply_reset(reset_id, [service])


async def follow(stop: asyncio.Event, *, role: str) -> None:
    """Apply every reset and keep this process's report fresh until ``stop`` is set, surviving
    Redis restarts. Without Redis there is nothing to follow."""
    settings = get_settings()
    if not settings.redis_url:
        return
    _me.role = role
    wake = asyncio.Event()
    _me.wake = (asyncio.get_running_loop(), wake)
    watch_breakers(_listener)
    delay = 0.5
    while not stop.is_set():
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=10)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel())
            await _catch_up(client)
            await publish_report(client)
            delay, next_report = 0.5, time.monotonic() + HEARTBEAT_S
            while not stop.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    _on_message(message["data"])
                if wake.is_set() or time.monotonic() >= next_report:
                    wake.clear()
                    await publish_report(client)
                    next_report = time.monotonic() + HEARTBEAT_S
        except (RedisError, OSError) as exc:
            logger.warning("breaker resets: lost Redis (%s); retrying in %.1fs", exc, delay)
            await wait_or_stop(stop, delay)
            delay = min(delay * 2, 5.0)
        finally:
            if stop.is_set():
                await _forget_me(client)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            await client.aclose()
    _me.wake = None


async def _forget_me(client: aioredis.Redis) -> None:
    """A process that stops says so, rather than being listed until its report expires."""
    with contextlib.suppress(RedisError, OSError):
        await client.delete(report_key(process_name()))
        await client.srem(processes_key(), process_name())


@contextlib.asynccontextmanager
async def following_resets() -> AsyncIterator[None]:
    """The web processes' lifespan task (``app.register_lifespan_task``)."""
    stop = asyncio.Event()
    task = asyncio.create_task(follow(stop, role="web"), name="breaker-resets")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
