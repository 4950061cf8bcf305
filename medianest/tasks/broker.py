"""The one Taskiq broker (the task modules and the schedules are listed in ``tasks/registry.py``).

Embedded mode (no ``REDIS_URL``): an in-memory broker inside the web process. Production: a Redis
stream broker with acknowledgements and a result backend, read by ``taskiq worker`` processes.

The broker must exist when task modules are imported (``@broker.task``), so this module reads the
settings at import time; nothing else does.
"""

from __future__ import annotations

import logging
import os
import socket

from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from ..config import get_settings
from ..log import install_scrubbing
from ..metrics import TaskMetricsMiddleware
from ..services.job_runs import WORKER_GROUP, task_stream

logger = logging.getLogger(__name__)
# Worker and scheduler processes log through Taskiq's own handlers: scrub them too.
install_scrubbing(get_settings().secret_values())


def _build_broker() -> AsyncBroker:
    settings = get_settings()
    if not settings.redis_url:
        return InMemoryBroker()
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    return RedisStreamBroker(
        settings.redis_url, queue_name=task_stream(settings.redis_prefix), consumer_group_name=WORKER_GROUP,
        consumer_name=consumer, maxlen=10_000,
    ).with_result_backend(RedisAsyncResultBackend(settings.redis_url, result_ex_time=3600))


def _with_metrics(built: AsyncBroker) -> AsyncBroker:
    settings = get_settings()
    return built.with_middlewares(TaskMetricsMiddleware(settings.redis_url, settings.redis_prefix))


broker: AsyncBroker = _with_metrics(_build_broker())
