"""Another MediaNest process for ``test_system_health``: it opens its own Overseerr breaker, follows
breaker resets as a task worker does, and stops when its standard input closes.

Run as ``python -m tests.services.breaker_process``; it reads its settings (Redis URL and key
prefix) from the environment the test process set up."""

from __future__ import annotations

import asyncio
import sys

from medianest import breaker_sync
from medianest.integrations.base import breaker_for


async def main() -> None:
    breaker_for("Overseerr").open()
    stop = asyncio.Event()
    follower = asyncio.create_task(breaker_sync.follow(stop, role="worker"))
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await asyncio.wait_for(follower, timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
