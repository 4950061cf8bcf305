"""The admin's "Run now": send one run of a task by its name, marked as started by hand.

The web processes of production do not import the task modules (``tasks/registry.py``): the
message is sent by name and a worker runs it. In embedded mode the registry is loaded by the web
process itself, where the in-memory broker runs it.
"""

from __future__ import annotations

from taskiq.kicker import AsyncKicker

from ..services.job_runs import MANUAL
from .broker import broker


async def kick(task_name: str) -> None:
    """Send one run of ``task_name`` (its labels say it was started by an admin)."""
    await AsyncKicker(task_name=task_name, broker=broker, labels={"trigger": MANUAL}).kiq()
