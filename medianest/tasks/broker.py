"""The one Taskiq broker, and every schedule in one place.

Embedded mode (no ``REDIS_URL``): an in-memory broker inside the web process, and the schedules
run by a small loop in that same (single) process. Production: a Redis stream broker with
acknowledgements and a result backend; ``taskiq worker`` processes run the tasks and exactly one
``taskiq scheduler`` process (the ``scheduler`` service in docker-compose.yml) sends the schedules.

The broker must exist when task modules are imported (``@broker.task``), so this module reads the
settings at import time; nothing else does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass

from taskiq import AsyncBroker, InMemoryBroker, ScheduledTask, ScheduleSource, TaskiqScheduler
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from ..config import get_settings
from ..log import install_scrubbing

logger = logging.getLogger(__name__)
# Worker and scheduler processes log through Taskiq's own handlers: scrub them too.
install_scrubbing(get_settings().secret_values())


def _build_broker() -> AsyncBroker:
    settings = get_settings()
    if not settings.redis_url:
        return InMemoryBroker()
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    return RedisStreamBroker(
        settings.redis_url, queue_name=f"{settings.redis_prefix}tasks", consumer_group_name="medianest-workers",
        consumer_name=consumer, maxlen=10_000,
    ).with_result_backend(RedisAsyncResultBackend(settings.redis_url, result_ex_time=3600))


def _with_metrics(built: AsyncBroker) -> AsyncBroker:
    from ..metrics import TaskMetricsMiddleware

    settings = get_settings()
    return built.with_middlewares(TaskMetricsMiddleware(settings.redis_url, settings.redis_prefix))


broker: AsyncBroker = _with_metrics(_build_broker())


@dataclass(frozen=True)
class Schedule:
    task_name: str
    interval_s: int
    why: str


def schedules() -> list[Schedule]:
    """Every recurring job MediaNest runs."""
    settings = get_settings()
    return [
        Schedule("status.check", settings.status_check_interval_s, "check every service's status"),
        Schedule("status.prune", 6 * 3600, f"drop status history older than {settings.status_history_days} days"),
        Schedule("requests.deliver", settings.request_retry_interval_s, "send queued requests to Overseerr"),
        Schedule("requests.sync", settings.request_sync_interval_s, "follow the status of open requests"),
    ]


class MediaNestScheduleSource(ScheduleSource):
    """Feeds :func:`schedules` to ``taskiq scheduler``."""

    async def get_schedules(self) -> list[ScheduledTask]:
        return [ScheduledTask(task_name=s.task_name, labels={}, args=[], kwargs={}, interval=s.interval_s,
                              schedule_id=s.task_name) for s in schedules()]


scheduler = TaskiqScheduler(broker=broker, sources=[MediaNestScheduleSource()])


async def run_embedded_schedules(stop: asyncio.Event) -> None:
    """Embedded mode's scheduler: one loop per schedule inside the single web process."""
    from ..live import wait_or_stop
    from . import requests, status  # noqa: F401  (registers the tasks)

    async def every(item: Schedule) -> None:
        while not stop.is_set():
            task = broker.find_task(item.task_name)
            if task is None:
                logger.error("schedule %s names no task", item.task_name)
                return
            try:
                await task.kiq()
            except Exception:  # a failed send must not end the schedule
                logger.exception("could not start %s", item.task_name)
            await wait_or_stop(stop, item.interval_s)

    await asyncio.gather(*(every(item) for item in schedules()))
