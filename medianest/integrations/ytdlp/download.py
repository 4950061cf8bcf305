"""Download one item in a child process (see ``child.py`` for why a process, ``worker.py`` for
how the entry is chosen, ``pool.py`` for keeping children warm between items).

Cancelling: when ``cancel`` is set the child is told; its hooks raise yt-dlp's
``DownloadCancelled`` at the next progress tick. If it has not exited within
:data:`CANCEL_GRACE_S` (it may be resolving a page or running ffmpeg, where no hook is called),
its process group is terminated, then killed. Cancelling the awaiting task does the same.

Cleaning up: after a cancel or any failure, nothing partial is left: the per-item temp folder
is emptied and every file named after the item's stem that appeared in ``output_dir`` during
this call is removed (files that were there before are kept). The temp folder is emptied after
a success too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import Cancelled, DownloadFailed, LinkRefused, UnsupportedLink, error_from_kind
from .jobs import ItemJob, ItemResult, Progress, as_float, as_int
from .links import inspect_link
from .pool import ChildPool
from .process import ChildProcess

logger = logging.getLogger(__name__)

CANCEL_GRACE_S = 1.5
_EXIT_WAIT_S = 5.0
ProgressCallback = Callable[[Progress], Awaitable[None] | None]


async def download_item(job: ItemJob, *, on_progress: ProgressCallback, cancel: asyncio.Event,
                        pool: ChildPool | None = None) -> ItemResult:
    """Download ``job`` and return where the file went.

    ``pool``: take a warm child from it and give the child back when the request ended cleanly
    (without one, a child is started for this item alone).

    ``on_progress`` (plain or async) gets at most about four ``downloading`` reports a second,
    the final one, and ``processing`` reports while ffmpeg runs. An exception it raises stops
    the download (and cleans up) and is re-raised here.

    Returns:
        ItemResult: ``skipped`` is true when the id is already in ``job.archive_path``.

    Raises:
        DownloadFailed: a subclass with a plain sentence (``Cancelled`` after ``cancel``,
            ``TooLarge``, ``HttpError``, ``UnsupportedLink`` …).
    """
    _check_links(job)
    if cancel.is_set():
        raise Cancelled(raw="cancelled before the start")
    job.output_dir.mkdir(parents=True, exist_ok=True)
    job.temp_dir.mkdir(parents=True, exist_ok=True)
    before = _stem_files(job.output_dir, job.stem)
    succeeded = False
    try:
        result = await _run(job, on_progress, cancel, pool)
        succeeded = True
        return result
    finally:
        clear_folder(job.temp_dir)
        if not succeeded:
            removed = remove_new_stem_files(job.output_dir, job.stem, before)
            if removed:
                logger.info("removed %d unfinished file(s) of %r", len(removed), job.stem)


class _Vanished(DownloadFailed):
    """The child ended without a single event (it was gone before it read the request)."""


async def _run(job: ItemJob, on_progress: ProgressCallback, cancel: asyncio.Event,
               pool: ChildPool | None) -> ItemResult:
    """The request in a child; a warm child that turns out to be gone (killed while it waited)
    is replaced by a new one once."""
    while True:
        child = await pool.take() if pool is not None else await ChildProcess.spawn(once=True)
        reused = child.requests > 0
        try:
            await child.request({"op": "download", "job": job.to_json()})
            return await _follow(child, on_progress, cancel)
        except _Vanished:
            if not reused or cancel.is_set():
                raise
            logger.warning("a warm yt-dlp child had gone away; the video starts in a new one")
        finally:
            if child.running and (child.busy or child.spent):  # cancelled, or our callback failed
                await child.stop(grace=0 if cancel.is_set() else 0.5)
            if pool is not None:
                pool.give_back(child)
            else:
                await child.close()


async def _follow(child: ChildProcess, on_progress: ProgressCallback, cancel: asyncio.Event) -> ItemResult:
    reader = asyncio.create_task(_read(child, on_progress))
    waiter = asyncio.create_task(cancel.wait())
    try:
        done, _ = await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            return reader.result()
        # Ask politely; the hooks raise DownloadCancelled at the next tick.
        await child.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(reader), CANCEL_GRACE_S)
        except (TimeoutError, DownloadFailed):
            pass
        except Exception:  # the caller's progress callback failed meanwhile: cancelling anyway
            logger.exception("progress callback failed while cancelling")
        raise Cancelled(raw="cancel requested by MediaNest")
    finally:
        for task in (reader, waiter):
            if not task.done():
                task.cancel()
        await asyncio.gather(reader, waiter, return_exceptions=True)


async def _read(child: ChildProcess, on_progress: ProgressCallback) -> ItemResult:
    seen = False
    async for event in child.events():
        seen = True
        kind = event.get("event")
        if kind == "progress":
            outcome = on_progress(Progress.from_json(event))
            if inspect.isawaitable(outcome):
                await outcome
        elif kind == "done":
            return _result(event.get("result") or {})
        elif kind == "error":
            raise error_from_kind(**{k: v for k, v in event.items() if k != "event"})
    code = await child.wait(_EXIT_WAIT_S)
    failure = DownloadFailed if seen else _Vanished
    raise failure(raw=f"the yt-dlp child exited ({code}) without a result: {child.stderr_tail()[-1000:]}")


def _result(data: dict[str, Any]) -> ItemResult:
    path, thumbnail = data.get("path"), data.get("thumbnail_path")
    return ItemResult(skipped=bool(data.get("skipped")), video_id=str(data.get("video_id")),
                      path=Path(path) if path else None, thumbnail_path=Path(thumbnail) if thumbnail else None,
                      title=data.get("title"), size_bytes=as_int(data.get("size_bytes")),
                      duration_s=as_float(data.get("duration_s")), archive_key=data.get("archive_key"),
                      extractor=data.get("extractor"), warnings=tuple(str(w) for w in data.get("warnings") or ()))


def _check_links(job: ItemJob) -> None:
    """The link rules once more before anything starts (the child re-checks addresses itself)."""
    for url in (job.url, job.playlist_url):
        if url is None:
            continue
        try:
            inspect_link(url, allowed_hosts=job.allowed_hosts, allow_private=job.allow_private)
        except LinkRefused as exc:
            raise UnsupportedLink(exc.user_message, raw=f"{exc.reason}: {url[:200]}") from exc


def _stem_pattern(stem: str) -> re.Pattern[str]:
    # <stem>.<ext>, plus yt-dlp's intermediate names (<stem>.f137.mp4, <stem>.temp.mp4, <stem>.mp4.part).
    return re.compile(re.escape(stem) + r"(\.[\w-]{1,16}){1,3}")


def _stem_files(folder: Path, stem: str) -> dict[str, tuple[int, int]]:
    """Files named after ``stem`` with their (inode, mtime) so a replaced file counts as new."""
    pattern = _stem_pattern(stem)
    found = {}
    for path in folder.iterdir():
        if pattern.fullmatch(path.name) and path.is_file():
            stat = path.stat()
            found[path.name] = (stat.st_ino, stat.st_mtime_ns)
    return found


def remove_new_stem_files(folder: Path, stem: str, before: dict[str, tuple[int, int]]) -> list[Path]:
    """Remove the files of ``stem`` in ``folder`` that were not there (or were different) before."""
    removed = []
    for name, identity in _stem_files(folder, stem).items():
        if before.get(name) != identity:
            path = folder / name
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed


def clear_folder(folder: Path) -> None:
    """Remove everything inside ``folder`` (not the folder itself)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
