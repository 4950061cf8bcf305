"""Status tasks: check every service, record it, publish what changed; prune old history."""

from __future__ import annotations

import logging

from ..db import session_scope
from ..live import publish
from ..services import service_status
from ..services.downloads import runner
from ..wiring import get_registry
from .broker import broker
from .downloads import watchdog
from .requests import overseerr_answers_again

logger = logging.getLogger(__name__)


@broker.task(task_name="status.check")
async def check_services() -> int:
    """Run the checks once; returns how many services changed state."""
    registry = get_registry()
    async with session_scope() as session:
        plex = await registry.plex_server(session)
    checks = service_status.status_checks(plex=plex, overseerr=registry.overseerr(), kuma=registry.uptime_kuma(),
                                          kuma_status_page=registry.settings.uptime_kuma_status_page)
    every = await service_status.run_every_check(checks)
    results = service_status.without_duplicates(every)
    async with session_scope() as session:
        changes = await service_status.record(session, results)
        kuma_keys = {r.key for r in results if r.source == "kuma"}
        if registry.settings.uptime_kuma_url and kuma_keys:
            await service_status.forget_missing(session, keep_keys=kuma_keys, source="kuma")
        if service_status.KUMA_ITSELF not in {r.key for r in results}:
            # Kuma answers again (or is no longer configured): "Kuma is not answering" is over.
            await service_status.forget(session, {service_status.KUMA_ITSELF})
    await publish({"type": "status", "changes": [
        {"key": c.key, "name": c.name, "old": c.old, "new": c.new, "since": c.since.isoformat()} for c in changes]})
    for change in changes:
        if change.old is not None:
            logger.info("status of %s: %s -> %s", change.name, change.old, change.new)
    # MediaNest's own check of Overseerr (run even when a Kuma monitor of that name shows the
    # card): while it answers, requests that wait only because it did not go out now, not after
    # their backoff.
    if any(r.key == "overseerr" and r.status == "up" for r in every):
        await overseerr_answers_again(only_unreachable=True)
    # And of Plex: while it does not answer, new downloads wait ("Paused: Plex is not answering");
    # when it answers again they resume at once.
    own_plex = next((r for r in every if r.key == "plex"), None)
    if own_plex is not None:
        async with session_scope() as session:
            changed = await runner.record_plex_reach(session, up=own_plex.status == "up")
            await session.commit()
        if changed and own_plex.status == "up":
            await watchdog.kiq()
    return len(changes)


@broker.task(task_name="status.prune")
async def prune_status_history() -> int:
    registry = get_registry()
    async with session_scope() as session:
        removed = await service_status.prune_history(session, keep_days=registry.settings.status_history_days)
    logger.info("pruned %s status history rows", removed)
    return removed
