"""Request tasks: deliver queued requests (with backoff) and follow Overseerr's status."""

from __future__ import annotations

import logging

from ..db import session_scope
from ..integrations.registry import get_registry
from ..services import media_requests
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
