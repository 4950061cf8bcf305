"""Request tasks: deliver queued requests (with backoff) and follow Overseerr's status."""

from __future__ import annotations

import asyncio
import logging

import pybreaker

from ..db import session_scope
from ..integrations.base import breaker_for
from ..integrations.overseerr import OverseerrClient
from ..services import media_requests
from ..wiring import get_registry
from .broker import broker

logger = logging.getLogger(__name__)


@broker.task(task_name="requests.deliver")
async def deliver_queued() -> int:
    """Send the queued requests whose retry time has come; returns how many were tried."""
    registry = get_registry()
    overseerr = registry.overseerr()
    if overseerr is None:
        return 0
    return await media_requests.deliver_due(session_scope, overseerr,
                                            retry_max_s=registry.settings.request_retry_max_s)


@broker.task(task_name="requests.sync")
async def sync_requests() -> int:
    """Update open requests and followed titles from Overseerr; returns how many members saw a change."""
    overseerr = get_registry().overseerr()
    if overseerr is None:
        return 0
    changed = await media_requests.sync_open(session_scope, overseerr)
    if changed:
        logger.info("request sync: %s members have changes", changed)
    return changed


async def overseerr_answers_again(*, only_unreachable: bool = False) -> int:
    """Overseerr is back (the status check or this process's breaker saw it): the queued requests
    waiting out a backoff are sent now rather than after it. Returns how many were released."""
    overseerr = get_registry().overseerr()
    if overseerr is None:
        return 0
    async with session_scope() as session:
        released = await media_requests.release_waiting(session, timeout_s=overseerr.timeout_s,
                                                        only_unreachable=only_unreachable)
    if released:
        await deliver_queued.kiq()
    return released


class _ResumeWhenClosed(pybreaker.CircuitBreakerListener):
    """Releases the queue when this process's Overseerr breaker closes after an outage."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task] = set()

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:
        if new_state.name != pybreaker.STATE_CLOSED or old_state is None \
                or old_state.name == pybreaker.STATE_CLOSED:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._resume())
        except RuntimeError:  # no loop (a synchronous caller): the next scheduled run catches up
            return
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    async def _resume() -> None:
        try:
            await overseerr_answers_again()
        except Exception:  # best effort: the scheduled delivery still runs
            logger.exception("could not release the request queue after Overseerr came back")


def _watch_breaker() -> None:
    breaker = breaker_for(OverseerrClient.service)
    if not any(isinstance(listener, _ResumeWhenClosed) for listener in breaker.listeners):
        breaker.add_listener(_ResumeWhenClosed())


_watch_breaker()
