"""Every task module and every schedule, in one place: the web app (embedded mode), ``taskiq
worker``, ``taskiq scheduler`` (``make worker``/``make scheduler``, docker-compose.yml), the e2e
stack and the benchmarks name only this module (``medianest.tasks.registry:broker`` / ``:scheduler``).
``tasks/kuma_live.py`` is no Taskiq task: the web processes hold that connection (live_bridge.py).
The admin's "Run now" (``tasks/run_now.py``) sends a task by name, so the production web
processes need not import this module.

Embedded mode (no ``REDIS_URL``): the schedules run as a small loop inside the single web process.
Production: ``taskiq worker`` processes run the tasks and exactly one ``taskiq scheduler`` process
(the ``scheduler`` service in docker-compose.yml) sends the schedules.
"""

from __future__ import annotations

import asyncio
import logging

from taskiq import ScheduledTask, ScheduleSource, TaskiqEvents, TaskiqScheduler, TaskiqState

from ..config import get_settings
from ..live import wait_or_stop
from ..services import jobs
from ..services.job_runs import SCHEDULE
from ..wiring import keep_current, start_configuration
from . import breakers, downloads, maintenance, requests, status
from .broker import broker

logger = logging.getLogger(__name__)

#: Importing a task module registers its tasks with the broker.
TASK_MODULES = (downloads, maintenance, requests, status)
#: Importing these registers what a worker process does when it starts and stops.
WORKER_HOOKS = (breakers,)

def schedules() -> list[jobs.Schedule]:
    """Every recurring job MediaNest runs (listed in ``services/jobs.py``, which the Jobs page shows)."""
    return jobs.schedules(get_settings())


class MediaNestScheduleSource(ScheduleSource):
    """Feeds :func:`schedules` to ``taskiq scheduler``; each send is labelled as the scheduler's
    (the Jobs page's next run is the last send plus the interval)."""

    async def get_schedules(self) -> list[ScheduledTask]:
        return [ScheduledTask(task_name=s.task_name, labels={"trigger": SCHEDULE}, args=[], kwargs={},
                              interval=s.interval_s, schedule_id=s.task_name) for s in schedules()]


scheduler = TaskiqScheduler(broker=broker, sources=[MediaNestScheduleSource()])


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def follow_configuration(state: TaskiqState) -> None:
    """A task worker loads the values saved on the Services page before its first task and
    follows every change (``wiring.keep_current``). Embedded mode's in-memory broker never
    starts as a worker: there the web process's lifespan does this."""
    await start_configuration()
    state.configuration_stop = asyncio.Event()
    state.configuration_task = asyncio.create_task(keep_current(state.configuration_stop), name="configuration")


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def stop_following_configuration(state: TaskiqState) -> None:
    stop = getattr(state, "configuration_stop", None)
    task = getattr(state, "configuration_task", None)
    if stop is not None and task is not None:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def run_embedded_schedules(stop: asyncio.Event) -> None:
    """Embedded mode's scheduler: one loop per schedule inside the single web process."""
    async def every(item: jobs.Schedule) -> None:
        while not stop.is_set():
            task = broker.find_task(item.task_name)
            if task is None:
                logger.error("schedule %s names no task", item.task_name)
                return
            try:
                await task.kicker().with_labels(trigger=SCHEDULE).kiq()
            except Exception:  # a failed send must not end the schedule
                logger.exception("could not start %s", item.task_name)
            await wait_or_stop(stop, item.interval_s)

    await asyncio.gather(*(every(item) for item in schedules()))
