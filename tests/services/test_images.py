"""The on-disk image cache: a key is fetched once and then served from disk (to every process on
the host), entries expire by age, the cache is trimmed oldest-first to its size, concurrent gets of
one key fetch once, and what is on disk besides finished entries is never served."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pybreaker
import pytest

from medianest.errors import IntegrationRejected
from medianest.integrations.plex import PlexServerClient
from medianest.services import images
from medianest.services.images import ImageCache


class Origin:
    """Where images come from: counts fetches, and can be held open to overlap gets."""

    def __init__(self, body: bytes = b"\x89PNG fake", content_type: str = "image/png") -> None:
        self.body, self.content_type = body, content_type
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.release.set()

    async def fetch(self) -> tuple[bytes, str]:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            return self.body, self.content_type
        finally:
            self.running -= 1


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.suffix != ".part")


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_a_key_is_fetched_once_then_served_from_disk(tmp_path):
    cache, origin = ImageCache(tmp_path), Origin(b"poster bytes", "image/webp")
    assert await cache.get_or_fetch("plex:/library/metadata/1/thumb/2:300x450", origin.fetch) == (
        b"poster bytes", "image/webp", False)
    for _ in range(3):
        assert await cache.get_or_fetch("plex:/library/metadata/1/thumb/2:300x450", origin.fetch) == (
            b"poster bytes", "image/webp", True)
    assert origin.calls == 1
    (entry,) = _entries(tmp_path)
    assert entry.suffix == ".webp" and entry.read_bytes() == b"poster bytes"
    assert "library" not in str(entry.relative_to(tmp_path))  # the key is hashed, never a path


async def test_different_keys_are_different_entries(tmp_path):
    cache = ImageCache(tmp_path)
    small, large = Origin(b"small"), Origin(b"large")
    await cache.get_or_fetch("thumb:120", small.fetch)
    await cache.get_or_fetch("thumb:300", large.fetch)
    assert (await cache.get_or_fetch("thumb:120", large.fetch))[0] == b"small"
    assert (await cache.get_or_fetch("thumb:300", small.fetch))[0] == b"large"
    assert (small.calls, large.calls) == (1, 1) and len(_entries(tmp_path)) == 2


async def test_another_process_on_the_host_serves_what_one_cached(tmp_path):
    origin = Origin(b"shared")
    await ImageCache(tmp_path).get_or_fetch("k", origin.fetch)
    assert await ImageCache(tmp_path).get_or_fetch("k", origin.fetch) == (b"shared", "image/png", True)
    assert origin.calls == 1


@pytest.mark.parametrize(("given", "kept"), [
    ("image/jpeg", "image/jpeg"), ("image/png", "image/png"), ("image/gif", "image/gif"),
    ("text/html", "image/jpeg"), ("", "image/jpeg"), ("image/svg+xml", "image/jpeg"),
])
async def test_only_raster_image_types_are_kept_anything_else_is_served_as_jpeg(tmp_path, given, kept):
    cache, origin = ImageCache(tmp_path), Origin(b"data", given)
    assert (await cache.get_or_fetch("k", origin.fetch))[1] == kept
    assert (await cache.get_or_fetch("k", origin.fetch))[1:] == (kept, True)


async def test_an_entry_older_than_max_age_is_fetched_again(tmp_path):
    cache, origin = ImageCache(tmp_path, max_age_s=3600), Origin(b"old")
    await cache.get_or_fetch("k", origin.fetch)
    (entry,) = _entries(tmp_path)
    _age(entry, 3500)
    assert await cache.get_or_fetch("k", origin.fetch) == (b"old", "image/png", True)  # not yet expired
    _age(entry, 3700)
    origin.body = b"new"
    assert await cache.get_or_fetch("k", origin.fetch) == (b"new", "image/png", False)
    assert origin.calls == 2
    (entry,) = _entries(tmp_path)
    assert entry.read_bytes() == b"new" and time.time() - entry.stat().st_mtime < 60
    assert await cache.get_or_fetch("k", origin.fetch) == (b"new", "image/png", True)


async def test_an_expired_entry_of_another_type_is_replaced(tmp_path):
    cache = ImageCache(tmp_path, max_age_s=60)
    await cache.get_or_fetch("k", Origin(b"png", "image/png").fetch)
    _age(_entries(tmp_path)[0], 120)
    assert await cache.get_or_fetch("k", Origin(b"jpg", "image/jpeg").fetch) == (b"jpg", "image/jpeg", False)
    assert [p.suffix for p in _entries(tmp_path)] == [".jpg"]


async def test_the_first_write_trims_the_cache_oldest_first(tmp_path):
    writer = ImageCache(tmp_path)
    for i, age in enumerate((400, 300, 200)):
        await writer.get_or_fetch(f"k{i}", Origin(b"x" * 100).fetch)
        _age(next(p for p in _entries(tmp_path) if p.stat().st_mtime > time.time() - 100), age)
    (tmp_path / "aa").mkdir(exist_ok=True)
    (tmp_path / "aa" / "leftover.part").write_bytes(b"y" * 1000)  # an unfinished write is not an entry
    # A process starting with a smaller limit: its first write brings the cache to 250 bytes.
    cache = ImageCache(tmp_path, max_bytes=250)
    await cache.get_or_fetch("k3", Origin(b"x" * 100).fetch)
    assert sum(p.stat().st_size for p in _entries(tmp_path)) == 200
    assert (tmp_path / "aa" / "leftover.part").exists()
    origin = Origin(b"x" * 100)
    cached = {key: (await cache.get_or_fetch(key, origin.fetch))[2] for key in ("k2", "k3", "k0", "k1")}
    assert cached == {"k2": True, "k3": True, "k0": False, "k1": False}  # the two oldest went


async def test_the_size_is_checked_every_trim_every_writes(tmp_path):
    cache = ImageCache(tmp_path, max_bytes=10 * 50)
    for i in range(images.TRIM_EVERY):
        await cache.get_or_fetch(f"k{i}", Origin(b"z" * 50).fetch)
    # Between two checks the cache may grow past its limit ...
    assert len(_entries(tmp_path)) == images.TRIM_EVERY
    # ... and the next check brings it back within it.
    await cache.get_or_fetch("one more", Origin(b"z" * 50).fetch)
    assert sum(p.stat().st_size for p in _entries(tmp_path)) <= 10 * 50


async def test_concurrent_gets_of_one_key_fetch_once(tmp_path):
    cache, origin = ImageCache(tmp_path), Origin(b"once")
    origin.release.clear()
    gets = [asyncio.create_task(cache.get_or_fetch("k", origin.fetch)) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert origin.calls == 1  # the others wait for it
    origin.release.set()
    results = await asyncio.gather(*gets)
    assert origin.calls == 1
    assert sorted(results, key=lambda r: r[2]) == [(b"once", "image/png", False)] + [(b"once", "image/png", True)] * 4


async def test_a_failed_fetch_caches_nothing_and_the_next_waiter_tries_again(tmp_path):
    cache = ImageCache(tmp_path)
    gate = asyncio.Event()
    calls = []

    async def flaky() -> tuple[bytes, str]:
        calls.append(len(calls))
        if len(calls) == 1:
            await gate.wait()
            raise ConnectionError("Plex went away")
        return b"second try", "image/jpeg"

    first = asyncio.create_task(cache.get_or_fetch("k", flaky))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get_or_fetch("k", flaky))
    await asyncio.sleep(0.01)
    assert len(calls) == 1
    gate.set()
    with pytest.raises(ConnectionError):
        await first
    assert await second == (b"second try", "image/jpeg", False)
    assert await cache.get_or_fetch("k", flaky) == (b"second try", "image/jpeg", True)
    assert len(calls) == 2


async def test_gets_of_different_keys_do_not_wait_for_each_other(tmp_path):
    cache, slow, fast = ImageCache(tmp_path), Origin(b"slow"), Origin(b"fast")
    slow.release.clear()
    pending = asyncio.create_task(cache.get_or_fetch("slow", slow.fetch))
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(cache.get_or_fetch("fast", fast.fetch), timeout=2) == (b"fast", "image/png", False)
    slow.release.set()
    assert (await pending)[0] == b"slow"


async def test_a_removed_entry_is_fetched_again(tmp_path):
    cache, origin = ImageCache(tmp_path), Origin(b"again")
    await cache.get_or_fetch("k", origin.fetch)
    _entries(tmp_path)[0].unlink()  # trimmed by another process, or the cache folder cleared
    assert await cache.get_or_fetch("k", origin.fetch) == (b"again", "image/png", False)
    assert origin.calls == 2 and len(_entries(tmp_path)) == 1


async def test_an_unfinished_write_or_a_foreign_file_is_never_served(tmp_path):
    cache, origin = ImageCache(tmp_path), Origin(b"real")
    await cache.get_or_fetch("k", origin.fetch)
    (entry,) = _entries(tmp_path)
    entry.unlink()
    # What a crash in the middle of a write leaves, and a file of a type the cache never writes.
    (entry.parent / f"{entry.stem}.jpgabc123.part").write_bytes(b"half")
    entry.with_suffix(".svg").write_bytes(b"<svg/>")
    assert await cache.get_or_fetch("k", origin.fetch) == (b"real", "image/png", False)
    assert entry.read_bytes() == b"real"


async def test_a_plex_thumbnail_is_fetched_from_plex_once(tmp_path, plex):
    client = PlexServerClient(plex.pms_url, token="sim-alice-token", client_id="medianest-test",
                              breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))
    thumb = (await client.section_items("1", size=1)).items[0].thumb
    cache = ImageCache(tmp_path)
    fetched = []

    async def from_plex() -> tuple[bytes, str]:
        fetched.append(thumb)
        return await client.image(thumb, width=120, height=180)

    body, content_type, cached = await cache.get_or_fetch(f"plex:{thumb}:120x180", from_plex)
    assert (content_type, cached) == ("image/png", False) and body.startswith(b"\x89PNG")
    plex.sim.set_faults("pms", status=500)  # Plex is down now: the cached copy still answers
    assert await cache.get_or_fetch(f"plex:{thumb}:120x180", from_plex) == (body, "image/png", True)
    assert fetched == [thumb]
