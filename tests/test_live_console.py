"""The announcement clock of the live bridge: the end is decided on the server's clock and
published once, whichever web process sees it first."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import redis.asyncio as aioredis

from medianest import live, live_console
from medianest.config import get_settings
from medianest.models import utcnow
from medianest.services import announcements
from tests.factories import as_member, make_user


async def _events_after(client: aioredis.Redis, last: bytes) -> list[dict]:
    found = await client.xrange(live.stream_key(), min=f"({last.decode()}")
    return [json.loads(fields[b"data"]) for _, fields in found]


async def test_the_end_is_published_once_by_one_of_the_web_processes(db, monkeypatch):
    async def no_prune(app) -> None:
        return None

    monkeypatch.setattr(live_console, "_prune_banners", no_prune)
    alice = make_user(db, username="alice", role="admin")
    await db.commit()
    posted = await announcements.post(db, actor=as_member(alice), message="Back at 3", level="info",
                                      ends_at=(utcnow() + timedelta(seconds=1.5)).isoformat())
    two_processes = [live_console.Console(app=None), live_console.Console(app=None)]
    wait = await two_processes[0]._tick()
    assert 0 < wait <= 1.5  # it sleeps until the end, not a whole poll interval

    client = aioredis.from_url(get_settings().redis_url)
    try:
        last = (await client.xrevrange(live.stream_key(), count=1))[0][0]
        await asyncio.sleep(wait + 0.1)
        for console in two_processes * 2:
            assert await console._tick() == live_console.CLOCK_POLL_S
        ended = [e for e in await _events_after(client, last) if e.get("type") == "announcement"]
    finally:
        await client.aclose()
    assert ended == [{"type": "announcement", "ended": posted.id}]
