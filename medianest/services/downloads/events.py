"""What the downloads tell the live bridge: a download changed (its cards are read again), an
item of a download that runs on ended (its new row), or an item made progress (both laid over
the cards without a database read)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from ... import live
from ...integrations import ytdlp
from . import views

#: At most one progress event per download this often (an item's first report always goes out).
PROGRESS_EVERY_S = 0.3
#: An item says it started only if no report came this soon.
START_GRACE_S = 0.5
#: An item says it is processing only if it still is this long after.
PROCESSING_GRACE_S = 0.3
# When each download's progress last went out (``ItemRelay``).
_sent_at: dict[int, float] = {}


async def announce(user_id: int, download_id: int) -> None:
    """A download changed: the member's and the admins' download lists reload (best effort)."""
    if user_id:
        await live.publish({"type": "downloads", "user_id": int(user_id), "download_id": int(download_id)})


async def item_ended(user_id: int, download_id: int, row: views.ItemRow) -> None:
    """An item of a download that runs on ended: its row as the database now has it (the cards
    take it without reading the database; the admins' feed reloads for its queue)."""
    if user_id:
        await live.publish({"type": "download-item", "user_id": int(user_id), "download_id": int(download_id),
                            "item_id": row.id, "row": dataclasses.asdict(row)})


class ItemRelay:
    """Which of one running item's reports reach the live bridge (each costs every web process
    that applies it a lock, a read and a write of the member's feed), so that a fast video sends
    one or two events and a slow one a few a second:

    * downloading: the first report at once, then at most one every :data:`PROGRESS_EVERY_S` per
      download, whichever of its videos reports;
    * that the item started (its row "Queued" → "Downloading"; the admins' queue reloads) with
      the first report, or on its own if no report came within :data:`START_GRACE_S` (a site slow
      to answer);
    * processing (ffmpeg, the move into place) once, and only if the item is still at it
      :data:`PROCESSING_GRACE_S` later: the item's end, announced right after, says more.

    Every event keeps the time its report came (``at``), so a delayed one shows its delay."""

    def __init__(self, user_id: int, download_id: int, item_id: int) -> None:
        self.user_id, self.download_id, self.item_id = user_id, download_id, item_id
        self.phase = ""
        self._start_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def started(self) -> None:
        """The item runs: the first report says so, or this, if no report comes soon."""
        self._start_pending = True
        self._later(START_GRACE_S, ytdlp.Progress(phase="downloading", downloaded_bytes=0), started=True)

    def report(self, progress: ytdlp.Progress) -> None:
        now = time.monotonic()
        if progress.phase == "processing":
            if self.phase != "processing":
                self.phase = "processing"
                self._later(PROCESSING_GRACE_S, progress, started=self._start_pending)
            return
        if self.phase == progress.phase and now - _sent_at.get(self.download_id, 0.0) < PROGRESS_EVERY_S:
            return
        self.phase = progress.phase
        self._cancel_timer()
        self._send(progress, time.time(), self._start_pending)

    def close(self) -> None:
        """The item ended: what waits is not sent (the end is announced instead)."""
        self._cancel_timer()

    def _later(self, delay: float, progress: ytdlp.Progress, *, started: bool = False) -> None:
        self._cancel_timer()
        at = time.time()
        self._timer = asyncio.get_running_loop().call_later(delay, self._send, progress, at, started)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self, progress: ytdlp.Progress, at: float, started: bool = False) -> None:
        self._timer = None
        if started:
            self._start_pending = False
        now = time.monotonic()
        if len(_sent_at) > 1000:
            for key, last in list(_sent_at.items()):
                if now - last > 600:
                    del _sent_at[key]
        _sent_at[self.download_id] = now
        task = asyncio.get_running_loop().create_task(
            publish_progress(self.user_id, self.download_id, self.item_id, progress, started=started, at=at))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)


async def publish_progress(user_id: int, download_id: int, item_id: int, progress: ytdlp.Progress, *,
                           started: bool = False, at: float | None = None) -> None:
    await live.publish({
        "type": "download-progress", "user_id": user_id, "download_id": download_id, "item_id": item_id,
        "phase": progress.phase, "downloaded": progress.downloaded_bytes, "total": progress.total_bytes,
        "speed": progress.speed, "eta": progress.eta, "at": at or time.time(), "started": started,
    })
