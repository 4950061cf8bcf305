"""The status tasks as the worker runs them: real PMS simulator, PostgreSQL, Redis stream."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from pydantic import SecretStr

from medianest import live
from medianest.config import get_settings
from medianest.services import system
from medianest.tasks.status import check_services, prune_status_history

HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"


async def _household(db, plex) -> None:
    await system.set_household_server(db, system.HouseholdServer(machine_id=HOUSEHOLD, name="Household",
                                                                 url=plex.pms_url, owner_plex_id=1001))
    await db.commit()


async def test_check_task_records_and_publishes_changes(db, plex):
    await _household(db, plex)
    client = aioredis.from_url(get_settings().redis_url)
    last_id = (await client.xrevrange(live.stream_key(), count=1) or [(b"0-0", {})])[0][0]
    assert await check_services() == 1  # plex: nothing -> up
    assert await check_services() == 0
    plex.sim.set_faults("pms", status=503)
    assert await check_services() == 1  # up -> down
    events = await client.xrange(live.stream_key(), min=f"({last_id.decode()}")
    payloads = [json.loads(fields[b"data"]) for _, fields in events]
    assert [p["type"] for p in payloads] == ["status"] * 3
    assert payloads[-1]["changes"] == [{"key": "plex", "name": "Plex", "old": "up", "new": "down",
                                        "since": payloads[-1]["changes"][0]["since"]}]
    await client.aclose()


async def test_no_services_configured_is_fine(db):
    assert await check_services() == 0


async def test_prune_task(db):
    assert await prune_status_history() == 0


async def test_bridge_applies_each_event_once_across_processes(db):
    """Two bridges (two web processes) share the consumer group: each event is applied once."""
    applied: list[tuple[str, dict]] = []
    stop = asyncio.Event()

    def collector(name):
        async def apply(event):
            applied.append((name, event))
        return apply

    bridges = [asyncio.create_task(live.bridge(collector(n), stop)) for n in ("web-1", "web-2")]
    await asyncio.sleep(0.5)  # both joined the group
    for i in range(10):
        await live.publish({"type": "test", "n": i})
    for _ in range(50):
        if len(applied) >= 10:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*bridges)
    assert sorted(e["n"] for _, e in applied) == list(range(10))


async def test_kuma_1_23_uptime_comes_from_the_status_page(db):
    """1.23's /metrics carries no uptime; the public status page fills in Kuma's own figure."""
    from medianest.integrations.uptime_kuma import UptimeKumaClient
    from medianest.launcher import SIMULATED_KUMA
    from medianest.services.service_status import kuma_check
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    with serve_kuma_in_thread(version="1.23") as kuma:
        client = UptimeKumaClient(kuma.url, api_key=SIMULATED_KUMA["UPTIME_KUMA_API_KEY"], timeout=5)
        plain = {r.name: r for r in await kuma_check(client)}
        enriched = {r.name: r for r in await kuma_check(client, status_page="household")}
    assert plain["Overseerr"].uptime_24h is None
    assert enriched["Overseerr"].uptime_24h == 0.96
    assert enriched["NAS"].status == "up" and enriched["NAS"].source == "kuma"


async def test_missing_status_page_never_hides_the_monitors(db):
    from medianest.integrations.uptime_kuma import UptimeKumaClient
    from medianest.launcher import SIMULATED_KUMA
    from medianest.services.service_status import kuma_check
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    with serve_kuma_in_thread(version="2.x") as kuma:
        client = UptimeKumaClient(kuma.url, api_key=SIMULATED_KUMA["UPTIME_KUMA_API_KEY"], timeout=5)
        results = {r.name: r for r in await kuma_check(client, status_page="no-such-page")}
    assert {"Plex", "Overseerr", "NAS", "VPN"} <= set(results)
    assert all(r.status == "up" for r in results.values())


def _with_kuma(monkeypatch, url: str) -> None:
    from medianest.launcher import SIMULATED_KUMA
    from medianest.tasks import status
    from medianest.wiring import Registry

    settings = get_settings().model_copy(update={
        "uptime_kuma_url": url, "uptime_kuma_api_key": SecretStr(SIMULATED_KUMA["UPTIME_KUMA_API_KEY"])})
    registry = Registry(settings)
    monkeypatch.setattr(status, "get_registry", lambda: registry)


async def _cards(db) -> dict:
    from medianest.services import service_status

    db.expire_all()
    return {c.key: c for c in await service_status.board(db, interval_s=60)}


async def test_the_kuma_is_down_card_goes_once_kuma_answers_again(db, monkeypatch):
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    with serve_kuma_in_thread() as kuma:
        _with_kuma(monkeypatch, kuma.url)
        await check_services()
        kuma.sim.set_faults(status=503)
        await check_services()
        cards = await _cards(db)
        assert cards["uptime-kuma"].status == "down"
        assert [c.status for c in cards.values() if c.name == "NAS"] == ["up"]  # kept, stale in time
        kuma.sim.clear_faults()
        await check_services()
        cards = await _cards(db)
    assert "uptime-kuma" not in cards
    assert [c.status for c in cards.values() if c.name == "NAS"] == ["up"]


async def test_two_kuma_monitors_with_one_name_are_two_steady_cards(db, monkeypatch):
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    with serve_kuma_in_thread() as kuma:
        _with_kuma(monkeypatch, kuma.url)
        kuma.sim.rename(4, "NAS")
        kuma.sim.set_status(4, "down")
        for _ in range(2):
            await check_services()
            cards = await _cards(db)
            assert [(c.key, c.status) for c in cards.values() if c.name == "NAS"] == [("kuma:3", "up"),
                                                                                    ("kuma:4", "down")]
