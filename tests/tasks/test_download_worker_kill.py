"""A worker killed mid-download (SIGKILL) leaves nothing stuck, in the production configuration:
PostgreSQL (a throw-away database with the migrations), Redis (a key prefix of its own) and real
``taskiq worker medianest.tasks.registry:broker`` processes, downloading from the demo video site.

The item is saved and its task sent through the stream broker; once its bytes flow, the worker
(manager and worker process) is SIGKILLed. Its yt-dlp child must go with it, and the item stays
"downloading" under a lease nobody renews. A new worker, started once the lease has run out, runs
the watchdog at start-up: the item is put back, downloaded again from scratch (attempt 2) and
finished, with one file, no partial file and no temp folder left; the download ends "done" (no
Plex server is set up). The killed worker's message stays pending in the stream (taskiq-redis
re-delivers only after hours, see ``tasks/broker.py``); the worker's tasks are all acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from taskiq.kicker import AsyncKicker

from medianest.config import Settings, get_settings
from medianest.integrations.ytdlp.child import ORPHAN_GRACE_S
from medianest.models import DownloadState, ItemState, User, YoutubeDownload, YoutubeDownloadItem, utcnow
from medianest.services.downloads import members
from medianest.services.downloads.to_plex import NO_PLEX_NOTE
from medianest.simulators.video_site import serve_in_thread
from medianest.tasks.broker import build_broker
from tests.conftest import _RUN_ID, ROOT, TEST_REDIS_URL, create_database, drop_database, run_migrations

LEASE_S = 6
SLOW = 1_000_000  # bytes/s while the first worker downloads: 40 MiB would take 40 s
FAST = 500_000_000
CHILD_MODULE = "medianest.integrations.ytdlp.child"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie downloads nothing


def _children(pid: int, *, running: str) -> list[int]:
    """Live child processes of ``pid`` whose command line contains ``running``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat is not None and stat[1] == pid and running in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


async def _until(what: str, check: Callable[[], object], timeout: float, every: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(every)


@dataclass
class Stack:
    """A throw-away database, a Redis prefix and the worker processes started on them."""

    db_name: str
    env: dict[str, str]
    settings: Settings
    engine: AsyncEngine
    tmp: Path
    pids: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str) -> tuple[subprocess.Popen[bytes], int]:
        """``taskiq worker`` as production runs it; returns the manager and its worker process."""
        with open(self.tmp / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "taskiq"), "worker",
                                     "medianest.tasks.registry:broker", "--workers", "1"], cwd=ROOT, env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self.pids.append(proc.pid)
        deadline = time.monotonic() + 30
        while not (workers := _children(proc.pid, running="taskiq")):
            assert proc.poll() is None and time.monotonic() < deadline, self.log(name)
            time.sleep(0.05)
        self.pids.append(workers[0])
        return proc, workers[0]

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def send_item_task(self) -> None:
        """``downloads.item`` through a broker built like the workers' one (same stream)."""
        client = build_broker(self.settings)
        try:
            await AsyncKicker("downloads.item", client, {}).kiq()
        finally:
            await client.shutdown()

    def kill_everything(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait(timeout=10)


@pytest.fixture
def site(tmp_path_factory):
    handle = serve_in_thread(data_dir=tmp_path_factory.mktemp("video-site"), large_rate_bytes_per_s=SLOW)
    yield handle
    handle.stop()


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    name = f"medianest_test_kill_{_RUN_ID}_{secrets.token_hex(3)}"
    url = create_database(name)
    prefix = f"mntest:{_RUN_ID}:kill-{secrets.token_hex(3)}:"
    engine = None
    stack = None
    try:
        run_migrations(url)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": TEST_REDIS_URL, "REDIS_KEY_PREFIX": prefix,
               "MEDIANEST_DATA_DIR": str(tmp_path / "data"), "DOWNLOADS_ROOT": str(tmp_path / "downloads"),
               "DOWNLOADS_ALLOW_PRIVATE_ADDRESSES": "true", "DOWNLOADS_ALLOWED_HOSTS": "127.0.0.1",
               "DOWNLOAD_MIN_FREE_MB": "0", "DOWNLOAD_LEASE_SECONDS": str(LEASE_S),
               "BREAKER_RESET_SECONDS": "1", "LOG_LEVEL": "INFO"}
        settings = get_settings().model_copy(update={
            "database_url": url, "redis_prefix": prefix, "downloads_root": tmp_path / "downloads",
            "downloads_allow_private": True, "downloads_allowed_hosts": "127.0.0.1", "downloads_min_free_mb": 0,
            "downloads_lease_s": float(LEASE_S)})
        engine = create_async_engine(settings.async_database_url)
        stack = Stack(name, env, settings, engine, tmp_path)
        yield stack
    finally:
        if stack is not None:
            stack.kill_everything()
        if engine is not None:
            await engine.dispose()
        drop_database(name)
        client = aioredis.from_url(TEST_REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_worker_killed_mid_item_leaves_nothing_stuck_and_the_item_finishes_once(stack, site):
    began = time.monotonic()
    settings = stack.settings
    async with stack.session() as session:
        bob = User(username="bob", plex_id=4242)
        session.add(bob)
        await session.commit()
        found = await members.preview(f"{site.url}/playlists/large", settings=settings)
        entry = found.entries[0]
        download, (item_id,) = await members.submit(session, user_id=bob.id, username="bob", found=found,
                                                    choice=members.Choice(entry_ids=(entry.id,)), settings=settings)

    async def item() -> YoutubeDownloadItem:
        async with stack.session() as session:
            row = await session.get(YoutubeDownloadItem, item_id)
            assert row is not None
            return row

    first, first_worker = stack.start_worker("worker-1")
    await stack.send_item_task()

    async def flowing() -> bool:
        row = await item()
        return row.status == ItemState.DOWNLOADING.value and row.downloaded_bytes > 200_000

    await _until("the item downloads and its bytes flow", flowing, 40)
    (child,) = await _until("the worker's yt-dlp child", lambda: _children(first_worker, running=CHILD_MODULE), 5)
    stack.pids.append(child)
    temp = settings.downloads_dir / ".tmp" / f"item-{item_id}"
    assert any(p.name.endswith(".part") for p in temp.rglob("*")), "a partial file is being written"

    os.kill(first.pid, signal.SIGKILL)  # the manager first, so it cannot start a new worker process
    os.kill(first_worker, signal.SIGKILL)
    killed = time.monotonic()
    first.wait(timeout=10)
    await _until("the yt-dlp child is gone", lambda: not _alive(child), ORPHAN_GRACE_S + 2, every=0.05)
    child_gone_s = time.monotonic() - killed

    stuck = await item()
    assert stuck.status == ItemState.DOWNLOADING.value and stuck.attempts == 1 and stuck.claimed_by
    assert stuck.lease_until is not None
    lease_left = (stuck.lease_until.replace(tzinfo=utcnow().tzinfo) - utcnow()).total_seconds()
    assert lease_left <= LEASE_S

    # The second run need not be slow; wait for the lease to run out, then a worker starts.
    site.site.set_media_fault(site.site.entry(entry.id).media_path, rate_bytes_per_s=FAST)
    await _until("the lease runs out", lambda: utcnow() > stuck.lease_until.replace(tzinfo=utcnow().tzinfo),
                 LEASE_S + 1)
    restarted = time.monotonic()
    second, second_worker = stack.start_worker("worker-2")

    async def done() -> YoutubeDownload | None:
        async with stack.session() as session:
            row = await session.get(YoutubeDownload, download.id)
            return row if row is not None and row.status == DownloadState.DONE.value else None

    try:
        finished = await _until("the download is done", done, 30)
    except AssertionError:
        raise AssertionError(f"{await item()}\n--- worker-2 ---\n{stack.log('worker-2')}") from None
    done_s = time.monotonic() - restarted

    row = await item()
    assert (row.status, row.attempts, row.claimed_by, row.lease_until) == (ItemState.DONE.value, 2, None, None)
    assert isinstance(finished, YoutubeDownload) and finished.note == NO_PLEX_NOTE
    folder = settings.downloads_dir / download.folder
    videos = [p for p in folder.iterdir() if p.suffix == ".mp4"]
    assert [str(p) for p in videos] == [row.file_path]
    assert videos[0].stat().st_size == row.total_bytes == row.downloaded_bytes > 0
    # Whole and playable (yt-dlp's metadata step rewrites the file, so its size is not the served one).
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(videos[0])], capture_output=True, text=True, check=True)
    assert abs(float(probe.stdout) - site.site.entry(entry.id).clip.duration) < 0.5
    leftovers = [p for p in settings.downloads_dir.rglob("*") if p.name.endswith((".part", ".ytdl", ".temp"))]
    assert leftovers == [] and not temp.exists()
    archive = (settings.downloads_dir / ".archives" / f"member-{row.user_id}.txt").read_text().splitlines()
    assert [line.split()[-1] for line in archive] == [entry.id]
    async with stack.session() as session:
        open_rows = (await session.exec(select(sa.func.count()).select_from(YoutubeDownloadItem).where(
            col(YoutubeDownloadItem.status).in_([ItemState.QUEUED.value, ItemState.DOWNLOADING.value,
                                                 ItemState.PROCESSING.value, ItemState.PAUSED.value])
            | col(YoutubeDownloadItem.lease_until).is_not(None)))).one()
    assert open_rows == 0
    assert _alive(second_worker)
    # Its yt-dlp child waits warm for the next video (at most one per slot), idle: nothing under it.
    warm = _children(second_worker, running=CHILD_MODULE)
    assert 1 <= len(warm) <= settings.downloads_concurrency
    assert all(_children(pid, running="") == [] for pid in warm)

    # The stream: what is still pending is the killed worker's (its item's message at least; not
    # re-delivered for hours); the new worker acknowledged everything it ran.
    client = aioredis.from_url(TEST_REDIS_URL)
    try:
        async def pending_of_the_dead_only() -> bool:
            summary = await client.xpending(f"{settings.redis_prefix}tasks", "medianest-workers")
            owners = {c["name"].decode() for c in summary["consumers"]}
            return summary["pending"] >= 1 and all(name.endswith(f"-{first_worker}") for name in owners)
        await _until("only the killed worker's messages are pending", pending_of_the_dead_only, 5)
    finally:
        await client.aclose()
    # A worker that stops takes its warm children with it.
    second.terminate()
    second.wait(timeout=20)
    await _until("the warm yt-dlp children end with their worker", lambda: not any(_alive(p) for p in warm), 5)
    print(f"\nbytes flowing after {killed - began:.1f} s; yt-dlp child gone {child_gone_s:.2f} s after the kill; "
          f"done {done_s:.1f} s after the new worker started; {time.monotonic() - began:.1f} s in all")
