"""Prometheus metrics for ``/metrics``.

- HTTP requests and event-handler calls are counted where they happen. With several web
  processes set ``PROMETHEUS_MULTIPROC_DIR`` (the launcher, the tests and the Docker image do)
  so that one scrape adds up every process.
- Task runs and durations are recorded by the process that runs the task (a Taskiq middleware)
  into Redis, or into this process in embedded mode, and read back at scrape time. The same
  middleware records what the admin's Jobs page shows (``services.job_runs``): each task's last
  run and outcome, the runs in progress, the scheduler's sends and the admin's "Run now".
- Service status, breaker state, queue depth and active sessions are read at scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func
from sqlmodel import select
from taskiq import AsyncBroker, TaskiqEvents, TaskiqMessage, TaskiqMiddleware, TaskiqResult, TaskiqState

from . import live
from .config import get_settings
from .db import session_scope
from .integrations.base import breaker_states
from .models import ServiceStatus, UserSession, utcnow
from .services import job_runs

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter("medianest_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("medianest_http_request_duration_seconds", "HTTP request duration", ["method", "route"])
EVENTS = Counter("medianest_event_handler_calls_total", "Reflex event handler calls", ["handler", "outcome"])
EVENT_SECONDS = Histogram("medianest_event_handler_duration_seconds", "Reflex event handler duration", ["handler"])

_BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
_local_task_stats: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])


# Every label value comes from a fixed set: a label fed from the request would let any client add
# series (and memory, and scrape time) without bound.
KNOWN_ROUTES = frozenset({
    "login", "setup", "library", "requests", "search", "downloads", "admin", "account", "error", "forbidden", "404",
    "auth", "health", "metrics", "media", "webhooks", "ping", "assets", "favicon.ico"})
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def route_of(path: str) -> str:
    """A bounded label: the first path segment of a route MediaNest serves (``/auth/plex/start``
    -> ``/auth``); Reflex's own endpoints are ``/_reflex``, anything else is ``other``."""
    first = path.strip("/").split("/", 1)[0]
    if not first:
        return "/"
    if first.startswith("_"):
        return "/_reflex"
    return f"/{first}" if first in KNOWN_ROUTES else OTHER


def method_of(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER


def observe_http(method: str, path: str, status: int, seconds: float) -> None:
    route, method = route_of(path), method_of(method)
    status_label = str(status) if 100 <= status <= 599 else OTHER
    HTTP_REQUESTS.labels(method, route, status_label).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


_handler_names: frozenset[str] | None = None


def handler_label(qualname: str) -> str:
    """The handler's name when it is one the app defines, else ``other``."""
    global _handler_names
    if _handler_names is None:
        import reflex as rx  # here, not at the top: the task workers import this module without Reflex

        names, todo = set(), list(rx.State.get_substates())
        while todo:
            cls = todo.pop()
            todo.extend(cls.get_substates())
            names.update(h.fn.__qualname__ for h in cls.event_handlers.values())
        _handler_names = frozenset(names)
    return qualname if qualname in _handler_names else OTHER


def observe_event(qualname: str, outcome: str, seconds: float) -> None:
    """Count and time one event handler run (hooked into Reflex by ``reflex_compat.time_event_handlers``)."""
    label = handler_label(qualname)
    EVENTS.labels(label, outcome).inc()
    EVENT_SECONDS.labels(label).observe(seconds)


def _task_key(prefix: str) -> str:
    return f"{prefix}metrics:tasks"


class TaskMetricsMiddleware(TaskiqMiddleware):
    """Counts task runs and their durations by task and outcome, where the task runs, and records
    their activity for the Jobs page (``services.job_runs``); while an admin watches that page each
    change of it is published as a ``jobs`` live event. Nothing here may fail a task or a send."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        super().__init__()
        self._redis_url = redis_url
        self._prefix = prefix
        self._started: dict[str, float] = {}
        self._heartbeat: asyncio.Task | None = None

    def set_broker(self, broker: AsyncBroker) -> None:
        super().set_broker(broker)
        # Only ``taskiq worker`` processes (and embedded mode) start the broker as a worker.
        broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, self._start_heartbeat)
        broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, self._stop_heartbeat)

    def _worker(self) -> str:
        """This worker's consumer name on the task stream ("" for the in-memory broker)."""
        return str(getattr(self.broker, "consumer_name", "") or "")

    async def _start_heartbeat(self, _state: TaskiqState) -> None:
        if self._redis_url and self._worker() and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(), name="worker-heartbeat")

    async def _stop_heartbeat(self, _state: TaskiqState) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
            with contextlib.suppress(Exception):
                async with self._redis() as client:
                    if client is not None:
                        await job_runs.worker_stopped(client, self._prefix, self._worker())

    async def _beat(self) -> None:
        while True:
            try:
                async with self._redis() as client:
                    if client is not None:
                        await job_runs.heartbeat(client, self._prefix, self._worker())
            except Exception as exc:  # Redis away: the next beat tries again
                logger.debug("worker heartbeat not recorded: %s", exc)
            await asyncio.sleep(job_runs.HEARTBEAT_S)

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[aioredis.Redis | None]:
        if not self._redis_url:
            yield None
            return
        client = aioredis.from_url(self._redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            yield client
        finally:
            await client.aclose()

    @staticmethod
    def _trigger(message: TaskiqMessage) -> str:
        return str(message.labels.get("trigger") or "")

    async def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        """Recorded before the message is sent, not after: a worker may take and start it at once,
        and a "waiting" written after its "running" would hide the run."""
        trigger = self._trigger(message)
        watched = False
        try:
            async with self._redis() as client:
                await job_runs.sent(client, self._prefix, task=message.task_name, trigger=trigger)
                watched = await job_runs.watched(client, self._prefix)
        except Exception as exc:
            logger.debug("task send not recorded: %s", exc)
        if watched and trigger in (job_runs.SCHEDULE, job_runs.MANUAL):
            await live.publish({"type": "jobs"})
        return message

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        self._started[message.task_id] = time.perf_counter()
        watched = False
        try:
            async with self._redis() as client:
                await job_runs.started(client, self._prefix, task_id=message.task_id, task=message.task_name,
                                       trigger=self._trigger(message), worker=self._worker())
                watched = await job_runs.watched(client, self._prefix)
        except Exception as exc:
            logger.debug("task start not recorded: %s", exc)
        if watched:
            await live.publish({"type": "jobs"})
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        seconds = time.perf_counter() - self._started.pop(message.task_id, time.perf_counter())
        outcome = "error" if result.is_err else "success"
        shown = job_runs.describe_error(result.error) if result.is_err else job_runs.describe(result.return_value)
        watched = False
        try:
            async with self._redis() as client:
                if client is None:
                    stats = _local_task_stats[(message.task_name, outcome)]
                    stats[0] += 1
                    stats[1] += seconds
                else:
                    async with client.pipeline(transaction=False) as pipe:
                        pipe.hincrby(_task_key(self._prefix), f"{message.task_name}|{outcome}|count", 1)
                        pipe.hincrbyfloat(_task_key(self._prefix), f"{message.task_name}|{outcome}|seconds", seconds)
                        await pipe.execute()
                await job_runs.finished(client, self._prefix, task_id=message.task_id, task=message.task_name,
                                        trigger=self._trigger(message), seconds=seconds, ok=not result.is_err,
                                        result=shown)
                watched = await job_runs.watched(client, self._prefix)
        except Exception as exc:  # metrics must never fail a task
            logger.debug("task metrics not recorded: %s", exc)
        if watched:
            await live.publish({"type": "jobs"})


async def render() -> tuple[bytes, str]:
    """The text exposition for one scrape."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (HTTP_REQUESTS, HTTP_SECONDS, EVENTS, EVENT_SECONDS):
            registry.register(collector)
    registry.register(_Snapshot(await _snapshot()))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Snapshot:
    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self):
        return self._families


async def _snapshot() -> list:
    settings = get_settings()
    families = []
    status = GaugeMetricFamily("medianest_service_up", "1 when the service is up, 0 when down, "
                               "-1 otherwise (pending, maintenance, unknown)", labels=["service", "status"])
    sessions = GaugeMetricFamily("medianest_active_sessions", "Signed-in sessions that are still valid")
    async with session_scope() as session:
        for row in (await session.exec(select(ServiceStatus))).all():
            value = {"up": 1, "down": 0}.get(row.status, -1)
            status.add_metric([row.display_name or row.service_name, row.status], value)
        now = utcnow()
        active = (await session.exec(select(func.count()).select_from(UserSession).where(
            UserSession.revoked_at.is_(None), UserSession.activated_at.is_not(None),
            UserSession.expires_at > now))).one()
    sessions.add_metric([], active)
    breakers = GaugeMetricFamily("medianest_circuit_breaker_state", "0 closed, 1 half-open, 2 open (this process)",
                                 labels=["service"])
    for name, state in breaker_states().items():
        breakers.add_metric([name], _BREAKER_VALUES.get(state, -1))
    queue = GaugeMetricFamily("medianest_task_queue_depth", "Tasks waiting or being worked on")
    runs = CounterMetricFamily("medianest_task_runs", "Task runs", labels=["task", "outcome"])
    seconds = CounterMetricFamily("medianest_task_duration_seconds", "Total time spent in tasks",
                                  labels=["task", "outcome"])
    stats: dict[tuple[str, str], list[float]] = {k: list(v) for k, v in _local_task_stats.items()}
    if settings.redis_url:
        client = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            for group in await client.xinfo_groups(job_runs.task_stream(settings.redis_prefix)):
                queue.add_metric([], float((group.get("lag") or 0) + (group.get("pending") or 0)))
            raw = await client.hgetall(_task_key(settings.redis_prefix))
            for field, value in raw.items():
                task, outcome, kind = field.decode().split("|")
                stats.setdefault((task, outcome), [0.0, 0.0])[0 if kind == "count" else 1] = float(value)
        except Exception as exc:  # Redis down: the other metrics still answer
            logger.warning("/metrics: task figures unavailable (%s)", exc)
        finally:
            await client.aclose()
    for (task, outcome), (count, total) in sorted(stats.items()):
        runs.add_metric([task, outcome], count)
        seconds.add_metric([task, outcome], total)
    families += [status, sessions, breakers, queue, runs, seconds]
    return families


__all__ = ["observe_http", "route_of", "handler_label", "observe_event", "TaskMetricsMiddleware", "render", "REGISTRY"]
