"""Cleanup tasks besides the status history (``status.prune``): sessions that ended long ago."""

from __future__ import annotations

from ..db import session_scope
from ..services import maintenance
from .broker import broker


@broker.task(task_name="sessions.prune")
async def prune_sessions() -> int:
    """Delete sessions that ended more than 30 days ago; returns how many."""
    async with session_scope() as session:
        return await maintenance.prune_sessions(session)
