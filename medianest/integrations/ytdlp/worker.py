"""What the child process does with yt-dlp: download one item, or build a preview.

Entry selection (:func:`plan_attempts`): a YouTube link that names the expected video is
downloaded on its own (``noplaylist``). Any other entry is fetched through its playlist page with
``playlist_items`` set to the previewed index; if the playlist changed since the preview and
that position now holds another id, the whole page is scanned once more. In every case a
``match_filter`` refuses every id but ``expected_id``, before anything is downloaded.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from yt_dlp import YoutubeDL
from yt_dlp.postprocessor.common import PostProcessor
from yt_dlp.utils import DownloadCancelled

from .classify import EntryRefused, TooLargeSignal, classify
from .errors import DownloadFailed, LinkRefused, TooLarge, VideoUnavailable, error_parts
from .jobs import ItemJob
from .links import inspect_link, youtube_video_id
from .options import download_params, preview_params
from .preview import build_preview

PROGRESS_INTERVAL_S = 0.25
CANCEL_MESSAGE = "cancelled by MediaNest"


class Logger:
    """yt-dlp's ``logger``: keeps the last warnings and screen lines (for the result and the raw
    error text), notes the downloader's ``max_filesize`` refusal (yt-dlp skips such a file
    without an error), and writes everything to stderr, which the parent logs."""

    def __init__(self) -> None:
        self.warnings: collections.deque[str] = collections.deque(maxlen=10)
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        self.over_max_filesize: str | None = None

    def debug(self, message: str) -> None:
        if not message.startswith("[debug] "):
            self._keep(self.lines, message)

    def info(self, message: str) -> None:
        self._keep(self.lines, message)

    def warning(self, message: str) -> None:
        self._keep(self.warnings, message)

    def error(self, message: str) -> None:
        self._keep(self.lines, message)

    def _keep(self, target: collections.deque[str], message: str) -> None:
        target.append(message)
        if "larger than max-filesize" in message:
            self.over_max_filesize = message.strip()
        print(message, file=sys.stderr, flush=True)


class Sink(Protocol):
    """Where events go (the child's emitter)."""

    def put(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Attempt:
    url: str
    playlist_items: str | None
    noplaylist: bool


def plan_attempts(job: ItemJob) -> list[Attempt]:
    """The yt-dlp calls that may fetch ``job.expected_id``, tried in order until one finds it."""
    if youtube_video_id(job.url) == job.expected_id:
        link = inspect_link(job.url, allowed_hosts=(), allow_private=False)
        return [Attempt(link.url, None, True)]
    if job.playlist_url:
        attempts = []
        if job.playlist_index:
            attempts.append(Attempt(job.playlist_url, str(job.playlist_index), False))
        attempts.append(Attempt(job.playlist_url, None, False))
        return attempts
    return [Attempt(job.url, None, False)]


class RecordingYoutubeDL(YoutubeDL):
    """Remembers which ids the download archive skipped (yt-dlp skips them silently)."""

    archived_ids: set[str]

    def in_download_archive(self, info_dict: Any) -> bool:
        hit = bool(super().in_download_archive(info_dict))
        if hit:
            self.archived_ids = getattr(self, "archived_ids", set()) | {str(info_dict.get("id"))}
        return hit


class FinalPathPP(PostProcessor):
    """Runs ``after_move``: ``info["filepath"]`` is the final path in ``output_dir``. (The name
    ends in ``PP`` because yt-dlp derives the hook key by dropping the last two letters.)"""

    KEY = "FinalPath"

    def __init__(self, item: ItemRun) -> None:
        super().__init__(None)
        self._item = item

    def run(self, information: Any) -> tuple[list[str], Any]:
        self._item.on_final(information, self._downloader)
        return [], information


class ItemRun:
    """The state of one download in the child: hooks, filter and the outcome."""

    def __init__(self, job: ItemJob, *, sink: Sink, cancel: threading.Event) -> None:
        self.job = job
        self.sink = sink
        self.cancel = cancel
        self.seen_ids: set[str] = set()
        self.matched = False
        self.too_large: int | None = None
        self.planned_total: int | None = None
        self.finished: dict[str, int] = {}
        self.last_emit = 0.0
        self.last_step: str | None = None
        self.final: dict[str, Any] | None = None
        self.archived = False

    # -- yt-dlp callbacks (they run on yt-dlp's thread: no I/O beyond handing events on) --

    def match_filter(self, info: Any, *, incomplete: Any = False) -> str | None:
        self._check_cancel()
        if info.get("_type") in ("playlist", "multi_video"):
            return None
        video_id = info.get("id")
        if video_id is None:
            return None
        self.seen_ids.add(str(video_id))
        if str(video_id) != self.job.expected_id:
            return f"{video_id} is not the entry MediaNest asked for"
        if incomplete:
            return None
        if not str(info.get("extractor_key") or "").startswith("Youtube"):
            self._check_media_hosts(info)
        size = _size_of(info)
        limit = self.job.max_filesize
        if limit is not None and size is not None and size > limit:
            self.too_large = size
            return f"about {size} bytes, over the limit of {limit}"
        if info.get("requested_formats"):
            self.planned_total = size
        self.matched = True
        return None

    def on_progress(self, d: dict[str, Any]) -> None:
        self._check_cancel()
        status = d.get("status")
        if status not in ("downloading", "finished"):
            return
        name = str(d.get("filename") or "")
        current = int(d.get("downloaded_bytes") or 0)
        before = sum(size for other, size in self.finished.items() if other != name)
        downloaded = before + current
        limit = self.job.max_filesize
        if limit is not None and downloaded > limit:
            raise TooLargeSignal(limit, downloaded)
        if status == "finished":
            self.finished[name] = current
        now = time.monotonic()
        if status == "downloading" and now - self.last_emit < PROGRESS_INTERVAL_S:
            return
        self.last_emit = now
        part_total = d.get("total_bytes") or d.get("total_bytes_estimate")
        total = self.planned_total if self.planned_total and self.planned_total >= downloaded else \
            (before + int(part_total) if part_total else None)
        self.sink.put({"event": "progress", "phase": "downloading", "downloaded_bytes": downloaded,
                       "total_bytes": total, "speed": d.get("speed"), "eta": d.get("eta"),
                       "percent": round(min(100.0, downloaded * 100 / total), 2) if total else None})

    def on_postprocess(self, d: dict[str, Any]) -> None:
        self._check_cancel()
        step = str(d.get("postprocessor"))
        # One report per step as it starts. Thumbnails are converted before the download
        # starts: processing is reported only after it; our own FinalPath step is no news.
        if d.get("status") != "started" or not self.finished or step in (self.last_step, FinalPathPP.KEY):
            return
        self.last_step = step
        done = sum(self.finished.values())
        self.sink.put({"event": "progress", "phase": "processing", "step": step, "downloaded_bytes": done,
                       "total_bytes": done, "percent": 100.0})

    def on_final(self, info: Any, ydl: Any) -> None:
        path = Path(info["filepath"])
        thumbnail = self.job.output_dir / f"{self.job.stem}.jpg"
        archive_key = None
        if ydl is not None:
            try:
                archive_key = ydl._make_archive_id(info)
            except Exception:  # the key is informative only
                archive_key = None
        self.final = {
            "skipped": False, "video_id": str(info.get("id")), "path": str(path),
            "thumbnail_path": str(thumbnail) if thumbnail.is_file() else None,
            "title": info.get("title"), "size_bytes": path.stat().st_size if path.is_file() else None,
            "duration_s": info.get("duration"), "archive_key": archive_key, "extractor": info.get("extractor_key"),
        }
        self.sink.put({"event": "final", "path": str(path)})

    # -- helpers --

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled(CANCEL_MESSAGE)

    def _check_media_hosts(self, info: Any) -> None:
        """Media of a non-YouTube entry must sit on a host the link rules accept."""
        formats = info.get("requested_formats") or [info]
        for fmt in formats:
            url = fmt.get("url")
            if not url:
                continue
            try:
                inspect_link(str(url), allowed_hosts=self.job.allowed_hosts, allow_private=self.job.allow_private)
            except LinkRefused as exc:
                raise EntryRefused(f"media of {info.get('id')} is on a refused host: {exc}") from exc


def _size_of(info: Any) -> int | None:
    formats = info.get("requested_formats") or [info]
    sizes = [fmt.get("filesize") or fmt.get("filesize_approx") for fmt in formats]
    if not sizes or any(not isinstance(size, int | float) for size in sizes):
        return None
    return int(sum(sizes))


def run_download(job: ItemJob, *, emitter: Sink, cancel: threading.Event) -> dict[str, Any]:
    """Download ``job`` and return the last event (``done`` or ``error``)."""
    item = ItemRun(job, sink=emitter, cancel=cancel)
    log = Logger()
    archived: set[str] = set()
    try:
        for attempt in plan_attempts(job):
            params = download_params(job)
            params.update(logger=log, match_filter=item.match_filter, progress_hooks=[item.on_progress],
                          postprocessor_hooks=[item.on_postprocess], noplaylist=attempt.noplaylist)
            if attempt.playlist_items:
                params["playlist_items"] = attempt.playlist_items
            with RecordingYoutubeDL(cast(Any, params)) as ydl:
                ydl.add_post_processor(FinalPathPP(item), when="after_move")
                ydl.download([attempt.url])
                archived |= getattr(ydl, "archived_ids", set())
            if item.final or job.expected_id in archived or item.matched or item.too_large is not None:
                break
    except BaseException as exc:
        return {"event": "error", **error_parts(classify(exc, max_filesize=job.max_filesize))}
    return _outcome(job, item, log, archived)


def _outcome(job: ItemJob, item: ItemRun, log: Logger, archived: set[str]) -> dict[str, Any]:
    warnings = list(log.warnings)
    if item.final:
        return {"event": "done", "result": {**item.final, "warnings": warnings}}
    if job.expected_id in archived:
        return {"event": "done", "result": {"skipped": True, "video_id": job.expected_id, "warnings": warnings}}
    limit = job.max_filesize
    if limit is not None and (item.too_large is not None or log.over_max_filesize
                              or (item.matched and not item.finished)):
        # yt-dlp skips a file over max_filesize without an error (rc 0): either our filter saw
        # the size the site announced, or the downloader saw Content-Length and gave up (it says
        # so on screen; the last clause covers a yt-dlp that words it differently).
        raw = f"the site announced {item.too_large} bytes" if item.too_large else \
            log.over_max_filesize or "matched, then skipped without a download"
        return {"event": "error", **error_parts(TooLarge(limit, raw=raw))}
    if item.matched:
        raw = "; ".join(log.lines) or "yt-dlp finished without producing a file"
        return {"event": "error", **error_parts(DownloadFailed(raw=raw))}
    seen = ", ".join(sorted(item.seen_ids)[:10]) or "none"
    return {"event": "error", **error_parts(VideoUnavailable(
        raw=f"{job.expected_id} was not found (ids seen: {seen})"))}


def run_preview(request: dict[str, Any], *, cancel: threading.Event) -> dict[str, Any]:
    """``extract_info(download=False)`` of ``request["url"]`` and the compact preview of it."""
    max_entries = int(request["max_entries"])
    params = preview_params(max_entries=max_entries, socket_timeout=float(request.get("socket_timeout") or 15),
                            extractors=tuple(request.get("extractors") or ()))
    params["logger"] = Logger()
    try:
        with YoutubeDL(cast(Any, params)) as ydl:
            info = ydl.sanitize_info(ydl.extract_info(request["url"], download=False))
    except BaseException as exc:
        return {"event": "error", **error_parts(classify(exc))}
    if cancel.is_set():
        return {"event": "error", **error_parts(classify(DownloadCancelled(CANCEL_MESSAGE)))}
    preview = build_preview(info, max_entries=max_entries, allowed_hosts=tuple(request.get("allowed_hosts") or ()),
                            allow_private=bool(request.get("allow_private")))
    return {"event": "preview", "preview": preview.to_json()}
