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

from ..config import Settings, get_settings
from ..log import install_scrubbing
from ..metrics import TaskMetricsMiddleware
from ..services.job_runs import WORKER_GROUP, task_stream

logger = logging.getLogger(__name__)
# Worker and scheduler processes log through Taskiq's own handlers: scrub them too.
install_scrubbing(get_settings().secret_values())


# What happens to a message whose worker dies (taskiq-redis 1.2.1, ``RedisStreamBroker``): a
# worker reads with XREADGROUP, which puts the message in the group's pending entries list (PEL)
# under this worker's consumer name; Taskiq acknowledges (XACK) only when the task has ended and
# its result is saved. A SIGKILLed worker never acknowledges, and its consumer name (host and pid)
# never reads again, so the message stays pending. The broker's only way back for it is
# XAUTOCLAIM: on every listening round a worker claims the group's pending messages idle for at
# least ``idle_timeout`` ms (idle = since the last delivery, not since the task last did anything)
# and runs them again.
#
# Every task here is therefore written to be safe to run twice, and the rows, not the messages,
# are what counts: a download item is claimed with a conditional UPDATE (a second delivery finds
# it taken), a dead worker's item is put back by ``downloads.watchdog`` once its lease
# (DOWNLOAD_LEASE_SECONDS) has run out, which also makes up task messages that were lost; the
# other tasks run on schedules. Re-delivery is only a backstop that empties the PEL, so it waits
# long: a task legitimately runs far longer than ten minutes (the library's default) without
# acknowledging — a 4 GB video over a slow line takes hours — and must not be delivered a second
# time while it runs. Six hours is beyond any download the size limit allows at a usable speed.
RECLAIM_IDLE_S = 6 * 3600


def build_broker(settings: Settings) -> AsyncBroker:
    """The broker these settings describe (also used by tests that send tasks to a real worker)."""
    if not settings.redis_url:
        return InMemoryBroker()
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    return RedisStreamBroker(
        settings.redis_url, queue_name=task_stream(settings.redis_prefix), consumer_group_name=WORKER_GROUP,
        consumer_name=consumer, maxlen=10_000, idle_timeout=RECLAIM_IDLE_S * 1000,
        # When the first worker ever creates the group, it starts at the beginning of the stream
        # (not at its end, "$"): tasks sent before any worker had started are not skipped.
        consumer_id="0",
    ).with_result_backend(RedisAsyncResultBackend(settings.redis_url, result_ex_time=3600))


def _with_metrics(built: AsyncBroker) -> AsyncBroker:
    settings = get_settings()
    return built.with_middlewares(TaskMetricsMiddleware(settings.redis_url, settings.redis_prefix))


broker: AsyncBroker = _with_metrics(build_broker(get_settings()))
