"""Watch marks (``live.mark_watched`` / ``live.is_watched``): the live bridge writes only the feeds
some tab shows, and a tab that comes after a quiet spell learns that it must read its feed afresh.
Also which of a running item's reports are published (``services/downloads/events.ItemRelay``)."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis

from medianest import live
from medianest.config import get_settings
from medianest.integrations.ytdlp import Progress
from medianest.services.downloads import events


def _token() -> str:
    return f"test-watch-{uuid.uuid4().hex[:10]}"


async def test_a_mark_says_whether_it_is_new_and_lapses_with_its_time(monkeypatch):
    monkeypatch.setattr(live, "_seen_watched", {})
    token = _token()
    assert not await live.is_watched(token)
    assert await live.mark_watched(token) is True  # nobody watched: read the feed afresh
    assert await live.is_watched(token)
    assert await live.mark_watched(token) is False  # renewed while it lasted: the bridge kept it up
    client = aioredis.from_url(get_settings().redis_url)
    try:
        key = f"{get_settings().redis_prefix}watch:{token}"
        ttl = await client.ttl(key)
        assert live.WATCH_TTL_S - 5 <= ttl <= live.WATCH_TTL_S
        await client.delete(key)  # what the end of its time does
    finally:
        await client.aclose()
    assert await live.is_watched(token)  # a "yes" is trusted for a second (a write too many at worst)
    live._seen_watched.clear()  # the second has passed
    assert not await live.is_watched(token)
    assert await live.mark_watched(token) is True


async def test_embedded_mode_keeps_marks_in_the_process(monkeypatch):
    embedded = get_settings().model_copy(update={"redis_url": ""})
    monkeypatch.setattr(live, "get_settings", lambda: embedded)
    monkeypatch.setattr(live, "_local_watch", {})
    token = _token()
    assert not await live.is_watched(token)
    assert await live.mark_watched(token) is True
    assert await live.is_watched(token) and await live.mark_watched(token) is False
    monkeypatch.setattr(live, "WATCH_TTL_S", -1)
    assert await live.mark_watched(token) is False  # still marked until now; the new mark is already over
    assert not await live.is_watched(token)


async def test_without_redis_every_feed_counts_as_watched(monkeypatch):
    gone = get_settings().model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    monkeypatch.setattr(live, "get_settings", lambda: gone)
    token = _token()
    assert await live.is_watched(token)  # better a write too many than a tab left behind
    assert await live.mark_watched(token) is True


async def test_an_items_reports_go_out_sparingly_and_keep_their_time(monkeypatch):
    sent: list[dict] = []

    async def publish(event: dict) -> None:
        sent.append(event)

    monkeypatch.setattr(events.live, "publish", publish)
    monkeypatch.setattr(events, "_sent_at", {})
    monkeypatch.setattr(events, "START_GRACE_S", 0.2)
    monkeypatch.setattr(events, "PROCESSING_GRACE_S", 0.2)
    loop = asyncio.get_running_loop()

    async def settle(seconds: float = 0.05) -> list[tuple[int, str, bool]]:
        await asyncio.sleep(seconds)
        return [(e["item_id"], e["phase"], e["started"]) for e in sent]

    fast, slow = events.ItemRelay(1, 7, 10), events.ItemRelay(1, 7, 11)
    fast.started()
    slow.started()
    fast.report(Progress(phase="downloading", downloaded_bytes=100, total_bytes=1000))  # at once, with the start
    assert await settle() == [(10, "downloading", True)]
    fast.report(Progress(phase="downloading", downloaded_bytes=900, total_bytes=1000))  # too soon for download 7
    fast.report(Progress(phase="processing", downloaded_bytes=1000, total_bytes=1000, step="Metadata"))
    fast.close()  # it ended before the grace: neither its processing nor anything else goes out
    waited = loop.time()
    assert await settle(0.3) == [(10, "downloading", True), (11, "downloading", True)]  # the slow one started
    reported_at = sent[-1]["at"]
    slow.report(Progress(phase="processing", downloaded_bytes=5, total_bytes=5, step="Merger"))
    slow.report(Progress(phase="processing", downloaded_bytes=5, total_bytes=5, step="Metadata"))
    assert await settle(0.3) == [(10, "downloading", True), (11, "downloading", True), (11, "processing", False)]
    assert sent[-1]["at"] < time.time() - 0.15  # the time of the report, not of the send
    assert sent[-1]["at"] - reported_at > 0.25 and loop.time() - waited >= 0.6
    slow.close()


async def test_the_first_report_of_a_started_item_says_it_started(monkeypatch):
    sent: list[dict] = []

    async def publish(event: dict) -> None:
        sent.append(event)

    monkeypatch.setattr(events.live, "publish", publish)
    monkeypatch.setattr(events, "_sent_at", {})
    relay = events.ItemRelay(1, 9, 20)
    relay.started()
    relay.report(Progress(phase="downloading", downloaded_bytes=10, total_bytes=100))
    await asyncio.sleep(events.START_GRACE_S + 0.1)  # the start's own event is not sent as well
    relay.report(Progress(phase="downloading", downloaded_bytes=90, total_bytes=100))
    await asyncio.sleep(0.05)
    relay.close()
    # The admins' feed reloads its queue on "started": exactly once, with the first report.
    assert [(e["item_id"], e["downloaded"], e["started"]) for e in sent] == [(20, 10, True), (20, 90, False)]
