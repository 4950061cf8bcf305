"""The live Uptime Kuma connection (Socket.IO), held by exactly one process.

Which process: a web process. In embedded mode there is only one; in production every web
process competes for a Redis lock and the holder keeps the connection (another takes over within
seconds if it dies). A heartbeat that changes a monitor is recorded and published at once;
``/metrics`` polling by the ``status.check`` task goes on underneath, and is all there is when no
Kuma username/password is configured or Kuma refuses the socket login.

The address and credentials are the ones in force (``wiring``): when an admin changes them on
the Services page the connection is dropped within a second and made again with the new ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..config import Settings
from ..db import session_scope
from ..integrations.uptime_kuma import KumaLiveConnection, KumaLoginRefused, LiveEvent
from ..live import publish, wait_or_stop
from ..services import service_status
from ..wiring import get_registry

logger = logging.getLogger(__name__)
LOCK_TTL_MS = 15_000
UPTIME_PUBLISH_DELAY_S = 1.0


def _live_login(settings: Settings) -> tuple[str, str, str, float] | None:
    """What the live connection is made with; None while Kuma or its username/password is not set."""
    if not settings.uptime_kuma_url or not settings.uptime_kuma_username or settings.uptime_kuma_password is None:
        return None
    return (settings.uptime_kuma_url, settings.uptime_kuma_username, settings.secret_value("uptime_kuma_password"),
            settings.http_timeout_s)


async def watch_kuma(stop: asyncio.Event) -> None:
    """Run until ``stop``: hold the connection while this process is the elected holder."""
    settings = get_registry().settings
    if not settings.redis_url:
        while not stop.is_set():
            if _live_login(get_registry().settings) is None:
                await wait_or_stop(stop, 1)
                continue
            await _hold(stop)
        return
    lock_key = f"{settings.redis_prefix}kuma-live-holder"
    me = f"{socket.gethostname()}-{os.getpid()}"
    client = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        while not stop.is_set():
            if _live_login(get_registry().settings) is None:
                await wait_or_stop(stop, 1)
                continue
            try:
                if await client.set(lock_key, me, nx=True, px=LOCK_TTL_MS):
                    logger.info("this process holds the live Uptime Kuma connection")
                    await _hold(stop, renew=lambda: _renew(client, lock_key, me))
            except RedisError as exc:
                logger.warning("live Uptime Kuma: Redis unavailable (%s)", exc)
            await wait_or_stop(stop, 5)
    finally:
        await client.aclose()


async def _renew(client: aioredis.Redis, key: str, me: str) -> bool:
    if (await client.get(key) or b"").decode() != me:
        return False
    await client.pexpire(key, LOCK_TTL_MS)
    return True


async def _hold(stop: asyncio.Event, renew=None) -> None:
    settings = get_registry().settings
    login = _live_login(settings)
    if login is None:
        return
    names: dict[int, tuple[str, str | None]] = {}
    uptimes: dict[int, tuple[float | None, float | None]] = {}
    uptime_publish: list[asyncio.Task] = []
    connection: KumaLiveConnection

    async def publish_uptime_later() -> None:
        # Kuma sends its uptimes right after each beat: one later board refresh for all of them,
        # so the beat's own refresh (the state change) is never queued behind them.
        await asyncio.sleep(UPTIME_PUBLISH_DELAY_S)
        uptime_publish.clear()
        await publish({"type": "status", "changes": []})

    def card_key(monitor_id: int) -> str | None:
        name = names[monitor_id][0]
        if not (connection.server_version or "").startswith("1."):
            return service_status.kuma_key(monitor_id, name)
        # 1.23's /metrics has no ids, so its cards go by name; two 1.23 monitors of one name
        # would flip that card on every beat, so their beats are left to the /metrics poll.
        if sum(1 for other, _ in names.values() if other == name) > 1:
            return None
        return service_status.kuma_key(None, name)

    async def on_event(event: LiveEvent) -> None:
        if event.kind == "monitors":
            names.clear()
            names.update({m.monitor_id: (m.name, m.url) for m in event.monitors if m.monitor_id is not None})
            return
        if event.monitor_id not in names or (key := card_key(event.monitor_id)) is None:
            return
        if event.kind == "stats":
            # Kuma's own figures (its ``uptime`` events) are the card's uptime.
            uptimes[event.monitor_id] = (event.uptime_24h, event.uptime_30d)
            async with session_scope() as session:
                changed = await service_status.record_kuma_uptime(
                    session, key, uptime_24h=event.uptime_24h, uptime_30d=event.uptime_30d)
            if changed and not uptime_publish:
                uptime_publish.append(asyncio.create_task(publish_uptime_later()))
            return
        if event.kind != "heartbeat" or event.initial or not event.status:
            return
        name, url = names[event.monitor_id]
        uptime_24h, uptime_30d = uptimes.get(event.monitor_id, (None, None))
        result = service_status.CheckResult(
            key=key, name=name, status=event.status, source="kuma", url=url,
            response_time_ms=int(event.ping_ms) if event.ping_ms is not None else None, message=None,
            uptime_24h=uptime_24h, uptime_30d=uptime_30d)
        async with session_scope() as session:
            changes = await service_status.record(session, [result])
        await publish({"type": "status", "changes": [
            {"key": c.key, "name": c.name, "old": c.old, "new": c.new, "since": c.since.isoformat()}
            for c in changes]})

    url, username, password, timeout = login
    connection = KumaLiveConnection(url, on_event=on_event, username=username, password=password, timeout=timeout)
    runner = asyncio.create_task(connection.run())
    ticks = 0
    try:
        while not stop.is_set() and not runner.done():
            if await wait_or_stop(stop, 1):
                break
            if _live_login(get_registry().settings) != login:
                logger.info("the Uptime Kuma settings changed: making the live connection again")
                break
            ticks += 1
            if ticks % 5 == 0 and renew is not None and not await renew():
                logger.warning("lost the live Uptime Kuma lock; letting go of the connection")
                break
        if runner.done() and not runner.cancelled() and isinstance(runner.exception(), KumaLoginRefused):
            # Kuma allows 20 logins a minute; try again much later, /metrics polling goes on meanwhile.
            logger.warning("Uptime Kuma refused the socket login: live updates off, polling /metrics instead")
            for _ in range(300):  # unless an admin enters other credentials meanwhile
                if await wait_or_stop(stop, 1) or _live_login(get_registry().settings) != login:
                    break
    finally:
        await connection.stop()
        runner.cancel()
        for task in uptime_publish:
            task.cancel()
        await asyncio.gather(runner, *uptime_publish, return_exceptions=True)
