"""Warm yt-dlp children (``integrations/ytdlp/pool.py``) against the demo video site: real yt-dlp
in real child processes. A child serves one video after another; a cancelled one, one that failed
to answer, one idle too long or one worn out is never used again; a request's address rules do not
carry over to the next."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from medianest.integrations.ytdlp import (
    Cancelled,
    ChildPool,
    HttpError,
    ItemJob,
    Progress,
    UnsupportedLink,
    download_item,
)
from medianest.integrations.ytdlp.errors import PRIVATE_ADDRESS
from medianest.integrations.ytdlp.process import ChildProcess

HOSTS = ("127.0.0.1",)
PINNED = ("generic", "html5")


# The site and its reset: tests/integrations/conftest.py.
pytestmark = pytest.mark.usefixtures("fresh_site")


@pytest.fixture
async def pool():
    children = ChildPool(keep=2)
    yield children
    await children.close()


def job_for(site, tmp_path: Path, n: int, **changes: Any) -> ItemJob:
    values: dict[str, Any] = dict(
        url=f"{site.url}/media/demo-{n}.mp4", expected_id=f"demo-{n}", playlist_url=f"{site.url}/playlists/demo",
        playlist_index=n, output_dir=tmp_path / "library", stem=f"clip {n}", temp_dir=tmp_path / "scratch" / str(n),
        allowed_hosts=HOSTS, allow_private=True, retries=0, socket_timeout=5, extractors=PINNED)
    values.update(changes)
    return ItemJob(**values)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def pids_of(pool: ChildPool) -> list[int]:
    return [child.proc.pid for child in pool._idle]


async def download(job: ItemJob, pool: ChildPool, cancel: asyncio.Event | None = None,
                   on_progress: Any = None) -> Any:
    return await download_item(job, on_progress=on_progress or (lambda _p: None), cancel=cancel or asyncio.Event(),
                               pool=pool)


async def test_one_warm_child_downloads_video_after_video(site, tmp_path, pool):
    first = await download(job_for(site, tmp_path, 1), pool)
    (pid,) = pids_of(pool)
    started = time.monotonic()
    second = await download(job_for(site, tmp_path, 2), pool)
    third = await download(job_for(site, tmp_path, 3), pool)
    warm_s = (time.monotonic() - started) / 2
    assert pids_of(pool) == [pid]  # the same process served all three
    assert [r.video_id for r in (first, second, third)] == ["demo-1", "demo-2", "demo-3"]
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == [
        "clip 1.jpg", "clip 1.mp4", "clip 2.jpg", "clip 2.mp4", "clip 3.jpg", "clip 3.mp4"]
    assert all(r.path is not None and r.path.stat().st_size == r.size_bytes for r in (first, second, third))
    assert warm_s < 10, warm_s


async def test_two_at_once_get_two_children_and_both_wait_for_the_next(site, tmp_path, pool):
    results = await asyncio.gather(download(job_for(site, tmp_path, 1), pool),
                                   download(job_for(site, tmp_path, 2), pool))
    assert [r.video_id for r in results] == ["demo-1", "demo-2"]
    assert len(set(pids_of(pool))) == 2
    pool.keep = 1  # Admin → Services lowered the slots: one child too many is closed, not kept
    waiting = pids_of(pool)
    await download(job_for(site, tmp_path, 3), pool)
    assert len(pids_of(pool)) == 1 and pids_of(pool)[0] in waiting
    await pool.close()
    assert pids_of(pool) == [] and not any(alive(pid) for pid in waiting)


async def test_a_failed_video_keeps_its_child_for_the_next(site, tmp_path, pool):
    playlist = f"{site.url}/playlists/broken"
    with pytest.raises(HttpError):
        await download(job_for(site, tmp_path, 2, url=f"{site.url}/media/broken-2.mp4", expected_id="broken-2",
                               playlist_url=playlist), pool)
    (pid,) = pids_of(pool)
    result = await download(job_for(site, tmp_path, 3, url=f"{site.url}/media/broken-3.mp4",
                                    expected_id="broken-3", playlist_url=playlist), pool)
    assert result.video_id == "broken-3" and pids_of(pool) == [pid]


async def test_a_cancelled_child_is_never_used_again(site, tmp_path, pool):
    await download(job_for(site, tmp_path, 1), pool)
    (warm,) = pids_of(pool)
    cancel = asyncio.Event()

    def on_progress(progress: Progress) -> None:
        if (progress.downloaded_bytes or 0) > 1_000_000:
            cancel.set()

    large = job_for(site, tmp_path, 1, url=f"{site.url}/playlists/large", expected_id="large-1", playlist_url=None,
                    playlist_index=None, stem="large")
    with pytest.raises(Cancelled):
        await download(large, pool, cancel=cancel, on_progress=on_progress)
    assert pids_of(pool) == []
    deadline = time.monotonic() + 3
    while alive(warm) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not alive(warm)
    assert not (tmp_path / "library" / "large.mp4").exists()
    result = await download(job_for(site, tmp_path, 2), pool)
    assert result.video_id == "demo-2" and pids_of(pool) != [warm]


async def test_private_addresses_allowed_for_one_video_are_refused_for_the_next(site, tmp_path, pool):
    name = socket.gethostname().lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if "127.0.0.1" not in addresses:
        pytest.skip("this machine's name does not resolve to 127.0.0.1, where the site listens")
    await download(job_for(site, tmp_path, 1), pool)  # the demo site is on 127.0.0.1: allowed here
    (pid,) = pids_of(pool)
    # An allowed name that says nothing about being local: only the child's resolver guard sees it.
    url = site.url.replace("127.0.0.1", name)
    refused = job_for(site, tmp_path, 2, url=f"{url}/videos/sunrise", expected_id="sunrise-1", playlist_url=None,
                      playlist_index=None, allowed_hosts=(name,), allow_private=False)
    with pytest.raises(UnsupportedLink) as caught:
        await download(refused, pool)
    assert caught.value.user_message == PRIVATE_ADDRESS
    assert pids_of(pool) == [pid]  # the same child refused it
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == ["clip 1.jpg", "clip 1.mp4"]


async def test_idle_and_worn_children_are_replaced(site, tmp_path):
    pool = ChildPool(keep=1, idle_s=0.5, max_requests=2)
    try:
        await download(job_for(site, tmp_path, 1), pool)
        (first,) = pids_of(pool)
        await asyncio.sleep(0.7)
        await download(job_for(site, tmp_path, 2), pool)  # the idle one was too old: a new child
        (second,) = pids_of(pool)
        assert second != first
        await download(job_for(site, tmp_path, 3), pool)  # its second request: worn out, closed
        assert pids_of(pool) == []
        deadline = time.monotonic() + 3
        while (alive(first) or alive(second)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not alive(first) and not alive(second)
    finally:
        await pool.close()


async def test_a_warm_child_left_alone_exits_by_itself():
    child = await ChildProcess.spawn(idle_exit_s=0.5)
    try:
        assert await child.wait(15) == 0
    finally:
        await child.close()


async def test_a_warm_child_killed_while_it_waited_is_replaced_and_the_video_still_downloads(site, tmp_path, pool):
    await download(job_for(site, tmp_path, 1), pool)
    (dead,) = pids_of(pool)
    os.kill(dead, signal.SIGKILL)  # e.g. the kernel's OOM killer; the pool has not noticed yet
    assert pool._idle[0].running
    result = await download(job_for(site, tmp_path, 2), pool)
    assert result.video_id == "demo-2" and result.path is not None and result.path.is_file()
    (fresh,) = pids_of(pool)
    assert fresh != dead


async def test_children_handed_back_after_the_pool_closed_are_closed(site, tmp_path):
    pool = ChildPool(keep=2)
    running = asyncio.create_task(download(job_for(site, tmp_path, 1), pool))
    await asyncio.sleep(0.2)
    await pool.close()  # a worker shutting down while a video still runs
    result = await running
    assert result.video_id == "demo-1" and pids_of(pool) == []
    await pool.close()  # waits for the late one's closing
    assert not pool._closing
