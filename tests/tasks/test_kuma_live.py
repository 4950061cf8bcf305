"""The live Uptime Kuma connection: one holder (Redis lock), heartbeats recorded and published
at once, and a refused socket login leaves polling to the status task."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlmodel import select

from medianest import live
from medianest.config import get_settings
from medianest.launcher import SIMULATED_KUMA
from medianest.models import ServiceStatus
from medianest.tasks import kuma_live
from medianest.wiring import Registry


@pytest.fixture
def kuma():
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    handle = serve_kuma_in_thread()
    yield handle
    handle.stop()


@pytest.fixture
def kuma_settings(kuma, monkeypatch):
    settings = get_settings().model_copy(update={
        "uptime_kuma_url": kuma.url, "uptime_kuma_username": SIMULATED_KUMA["UPTIME_KUMA_USERNAME"],
        "uptime_kuma_password": SecretStr(SIMULATED_KUMA["UPTIME_KUMA_PASSWORD"])})
    registry = Registry(settings)
    monkeypatch.setattr(kuma_live, "get_registry", lambda: registry)
    return settings


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_heartbeat_is_recorded_and_published_at_once(db, kuma, kuma_settings):
    client = aioredis.from_url(kuma_settings.redis_url)
    last = (await client.xrevrange(live.stream_key(), count=1) or [(b"0-0", {})])[0][0].decode()
    stop = asyncio.Event()
    watcher = asyncio.create_task(kuma_live.watch_kuma(stop))
    try:
        holder = f"{kuma_settings.redis_prefix}kuma-live-holder"
        await _wait_for(lambda: client.exists(holder))
        await asyncio.sleep(1.0)  # logged in, monitor list received
        kuma.sim.set_status(3, "down", msg="No route to host")
        started = asyncio.get_running_loop().time()

        async def nas_down() -> bool:
            db.expire_all()
            row = (await db.exec(select(ServiceStatus).where(ServiceStatus.service_name == "kuma:3"))).first()
            return row is not None and row.status == "down"

        await _wait_for(nas_down, timeout=3)
        assert asyncio.get_running_loop().time() - started < 1.0

        async def published() -> bool:  # right after the commit that the row check saw
            events = [json.loads(f[b"data"]) for _, f in await client.xrange(live.stream_key(), min=f"({last}")]
            return any(c["key"] == "kuma:3" and c["new"] == "down" for e in events for c in e.get("changes", []))

        await _wait_for(published, timeout=1)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=20)
        await client.delete(f"{kuma_settings.redis_prefix}kuma-live-holder")
        await client.aclose()


async def test_only_one_process_holds_the_connection(db, kuma, kuma_settings):
    client = aioredis.from_url(kuma_settings.redis_url)
    await client.set(f"{kuma_settings.redis_prefix}kuma-live-holder", "another-process", px=60_000)
    stop = asyncio.Event()
    watcher = asyncio.create_task(kuma_live.watch_kuma(stop))
    try:
        await asyncio.sleep(1.5)
        kuma.sim.set_status(4, "down")
        await asyncio.sleep(1.0)
        row = (await db.exec(select(ServiceStatus).where(ServiceStatus.service_name == "kuma:4"))).first()
        assert row is None  # not the holder: nothing recorded by this process
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=20)
        await client.delete(f"{kuma_settings.redis_prefix}kuma-live-holder")
        await client.aclose()


async def test_refused_login_turns_live_mode_off_without_crashing(db, kuma, kuma_settings, caplog):
    kuma.sim.refuse_socket_logins(True)
    stop = asyncio.Event()
    watcher = asyncio.create_task(kuma_live.watch_kuma(stop))
    try:
        for _ in range(100):
            if any("polling /metrics instead" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
        assert any("polling /metrics instead" in r.getMessage() for r in caplog.records), caplog.text
        assert not watcher.done()
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=20)
        import redis.asyncio as r
        c = r.from_url(kuma_settings.redis_url)
        await c.delete(f"{kuma_settings.redis_prefix}kuma-live-holder")
        await c.aclose()


async def _watching(kuma_settings):
    """Start the watcher and wait until it holds a logged-in connection (its monitor list is in)."""
    client = aioredis.from_url(kuma_settings.redis_url)
    stop = asyncio.Event()
    watcher = asyncio.create_task(kuma_live.watch_kuma(stop))
    await _wait_for(lambda: client.exists(f"{kuma_settings.redis_prefix}kuma-live-holder"))
    await asyncio.sleep(1.0)  # logged in, monitor list and the stats burst received

    async def done() -> None:
        stop.set()
        await asyncio.wait_for(watcher, timeout=20)
        await client.delete(f"{kuma_settings.redis_prefix}kuma-live-holder")
        await client.aclose()

    return done


async def _row(db, key: str):
    db.expire_all()
    return (await db.exec(select(ServiceStatus).where(ServiceStatus.service_name == key))).first()


async def test_live_beats_show_kumas_uptime_not_our_count(db, kuma, kuma_settings):
    done = await _watching(kuma_settings)
    try:
        kuma.sim.set_status(3, "down", msg="No route to host")
        nas = kuma.sim.monitor(3)
        expected = (round(kuma.sim.uptime(nas, 24), 4), round(kuma.sim.uptime(nas, 720), 4))

        async def kumas_figures() -> bool:
            row = await _row(db, "kuma:3")
            return row is not None and row.status == "down" and (row.uptime_24h, row.uptime_30d) == expected

        await _wait_for(kumas_figures, timeout=3)
        assert 0.9 < expected[0] < 1  # one down beat in a day of beats: not our 0 % of one beat
        kuma.sim.set_status(3, "up", ping=10)
        nas_up = (round(kuma.sim.uptime(nas, 24), 4), round(kuma.sim.uptime(nas, 720), 4))

        async def back_up() -> bool:
            row = await _row(db, "kuma:3")
            return row.status == "up" and (row.uptime_24h, row.uptime_30d) == nas_up

        await _wait_for(back_up, timeout=3)
    finally:
        await done()


async def test_two_monitors_with_one_name_stay_two_cards(db, kuma, kuma_settings):
    kuma.sim.rename(4, "NAS")  # Kuma allows it; before, both flipped one "NAS" card
    done = await _watching(kuma_settings)
    try:
        kuma.sim.set_status(4, "down")
        kuma.sim.set_status(3, "up", ping=10)

        async def status(key: str) -> str | None:
            row = await _row(db, key)
            return row.status if row is not None else None

        async def both() -> bool:
            return (await status("kuma:3"), await status("kuma:4")) == ("up", "down")

        await _wait_for(both, timeout=3)
        assert (await _row(db, "kuma:4")).display_name == "NAS"
        assert await _row(db, "kuma:NAS") is None
    finally:
        await done()


async def test_kuma_1_23_live_cards_match_its_metrics_keys(db, kuma, kuma_settings):
    """1.23's /metrics has no monitor ids, so the live beats use the same name keys."""
    kuma.sim.set_version("1.23")
    kuma.sim.rename(4, "Plex")  # a second "Plex": its beats cannot be told apart by name
    done = await _watching(kuma_settings)
    try:
        kuma.sim.set_status(4, "down")
        kuma.sim.set_status(3, "down")

        async def nas_down() -> bool:
            row = await _row(db, "kuma:NAS")
            return row is not None and row.status == "down"

        await _wait_for(nas_down, timeout=3)
        assert await _row(db, "kuma:3") is None
        assert await _row(db, "kuma:Plex") is None  # left to the /metrics poll, no flapping
    finally:
        await done()
