"""``VideoSite``: the video site simulator's state (pages, media cache, media faults, HTTP faults)
with its thread-safe Python API."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from medianest.simulators.faults import FaultConfig, FaultInjector
from medianest.simulators.plex.common import SimError
from medianest.simulators.video_site.catalogue import (
    DEFAULT_LARGE_RATE,
    PLAYLIST,
    Entry,
    Page,
    added_entry,
    build_catalogue,
)
from medianest.simulators.video_site.media import MediaBlob, MediaCache

logger = logging.getLogger(__name__)

#: The cache folder inside ``data_dir``.
CACHE_FOLDER = "video-site"


def default_data_dir() -> Path:
    """Where the site keeps its clips when no data folder is given (survives restarts)."""
    return Path(tempfile.gettempdir()) / "medianest-simulators"


@dataclass(frozen=True)
class MediaFault:
    """A fault on one media path.

    Attributes:
        path: The media path (``/media/demo-2.mp4``).
        drop_after_bytes: Close the connection after sending this many body bytes of a response
            (counted per response, so a resumed download gets that many more bytes).
        rate_bytes_per_s: Serve at this rate instead of the entry's own.
        times: Responses still to affect; ``None`` = until cleared.
    """

    path: str
    drop_after_bytes: int | None = None
    rate_bytes_per_s: int | None = None
    times: int | None = None


def site_of(request: Request) -> VideoSite:
    """The ``VideoSite`` a request's app serves."""
    site: VideoSite = request.app.state.sim
    return site


class VideoSite:
    """The demo video site: pages, entries, their media and the faults (thread-safe).

    Attributes:
        base_url: Where the site is served.
        media: The clip cache (``media.generated`` lists what this start made).
        faults: HTTP faults (latency, status, outage) of ``faults.py``.
        stopping: Set when the server stops, so that slow downloads end at once.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8765", *, data_dir: Path | str | None = None,
                 large_rate_bytes_per_s: int = DEFAULT_LARGE_RATE, ffmpeg: str = "ffmpeg") -> None:
        """Build the catalogue and make (or reuse) every clip it needs.

        Args:
            base_url: Where the site is served (used in ``state()`` and log lines).
            data_dir: Folder whose ``video-site/`` subfolder caches the clips
                (default ``default_data_dir()``).
            large_rate_bytes_per_s: Serving rate of ``/playlists/large``'s file (``0`` = full speed).
            ffmpeg: The ffmpeg executable.

        Raises:
            MediaError: ffmpeg is missing or failed.
            ValueError: A negative rate.
        """
        if large_rate_bytes_per_s < 0:
            raise ValueError("large_rate_bytes_per_s must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.large_rate = large_rate_bytes_per_s
        folder = Path(data_dir) if data_dir is not None else default_data_dir()
        self.media = MediaCache(folder / CACHE_FOLDER, ffmpeg=ffmpeg)
        self.faults = FaultInjector("video-site")
        self.stopping = threading.Event()
        self._lock = threading.RLock()
        # Held through a whole add_entry (ffmpeg included) so two adds never take the same index.
        self._add_lock = threading.Lock()
        self._pages = build_catalogue(large_rate=self.large_rate)
        self._media_faults: dict[str, MediaFault] = {}
        self.media.ensure(e.clip for page in self._pages.values() if not page.lazy for e in page.entries)

    # Pages and entries --------------------------------------------------------------------

    def page(self, name: str, kind: str = PLAYLIST) -> Page | None:
        """The page called ``name`` of that kind (``"playlist"`` or ``"video"``), as it is now."""
        with self._lock:
            page = self._pages.get(name)
        return page if page is not None and page.kind == kind else None

    def pages(self) -> list[Page]:
        """Every page, playlists first."""
        with self._lock:
            pages = list(self._pages.values())
        return sorted(pages, key=lambda p: p.kind != PLAYLIST)

    def entry(self, entry_id: str) -> Entry | None:
        """The entry with that id (``demo-2``), or ``None``."""
        page_name, _, index = entry_id.rpartition("-")
        with self._lock:
            page = self._pages.get(page_name)
        if page is None or not index.isdigit() or not 1 <= int(index) <= len(page.entries):
            return None
        found = page.entries[int(index) - 1]
        return found if found.id == entry_id else None

    def add_entry(self, playlist: str, title: str | None = None, *, missing: bool = False) -> Entry:
        """Append a new clip to a playlist (its clip is made now, a fraction of a second).

        Args:
            playlist: The playlist's name (``demo``).
            title: The site's title for it (default ``Added clip <n>``).
            missing: Its media URL answers 404.

        Returns:
            The new entry; its id is ``<playlist>-<n>`` and stays valid until ``reset()``.

        Raises:
            SimError: 404 for an unknown playlist, 400 for a bad title.
        """
        if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > 200):
            raise SimError(400, "title must be a non-empty string of at most 200 characters")
        with self._add_lock:
            page = self.page(playlist)
            if page is None:
                raise SimError(404, f"no playlist {playlist!r}")
            new = added_entry(page, title.strip() if title else None, missing=missing)
            self.media.ensure([new.clip])
            with self._lock:
                current = self._pages[playlist]
                self._pages[playlist] = dataclasses.replace(current, entries=(*current.entries, new))
        logger.info("video site: added %s (%r) to %s", new.id, new.title, playlist)
        return new

    def ready(self, entries: Iterable[Entry]) -> bool:
        """Whether the clips of ``entries`` are known to be on disk (cheap; no disk access)."""
        return self.media.ready(e.clip for e in entries)

    def prepare(self, entries: Iterable[Entry]) -> None:
        """Make the clips of ``entries`` that are not on disk yet (the lazy ``big`` playlist's).

        Raises:
            MediaError: ffmpeg is missing or failed.
        """
        self.media.ensure(e.clip for e in entries)

    def blob(self, entry: Entry) -> MediaBlob:
        """What the entry's media URL serves."""
        clip = self.media.clip(entry.clip.key)
        return MediaBlob(clip, entry.size or len(clip))

    def thumbnail(self, entry: Entry) -> bytes:
        """The entry's JPEG thumbnail."""
        return self.media.thumbnail(entry.clip.key)

    # Media faults -------------------------------------------------------------------------

    def set_media_fault(self, path: str, *, drop_after_bytes: int | None = None,
                        rate_bytes_per_s: int | None = None, times: int | None = None) -> MediaFault:
        """Drop or throttle the responses of one media path (replacing its earlier fault).

        Args:
            path: A media path (``/media/demo-2.mp4``) or its full URL.
            drop_after_bytes: Close the connection after this many body bytes of a response.
            rate_bytes_per_s: Serve at this rate (bytes/s) instead of the entry's own.
            times: Number of responses to affect, then the fault clears itself; ``None`` = until cleared.

        Returns:
            The fault now in force.

        Raises:
            SimError: 400 for a value out of range.
        """
        path = urlsplit(path).path if "://" in path else path
        if not path.startswith("/media/"):
            raise SimError(400, "path must be a media path such as /media/demo-2.mp4")
        for name, value, low in (("drop_after_bytes", drop_after_bytes, 0), ("rate_bytes_per_s", rate_bytes_per_s, 1),
                                 ("times", times, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise SimError(400, f"{name} must be an integer >= {low} or null")
        fault = MediaFault(path, drop_after_bytes, rate_bytes_per_s, times)
        with self._lock:
            self._media_faults[path] = fault
        logger.info("video site: media fault %s", fault)
        return fault

    def clear_media_faults(self, path: str | None = None) -> None:
        """Remove the media fault of ``path``, or every media fault."""
        with self._lock:
            if path is None:
                self._media_faults.clear()
            else:
                self._media_faults.pop(urlsplit(path).path if "://" in path else path, None)

    def media_faults(self) -> list[MediaFault]:
        """The media faults in force."""
        with self._lock:
            return list(self._media_faults.values())

    def claim_media_fault(self, path: str) -> MediaFault | None:
        """The fault for a response to ``path``, counting it against ``times``."""
        with self._lock:
            fault = self._media_faults.get(path)
            if fault is None or fault.times is None:
                return fault
            if fault.times <= 1:
                del self._media_faults[path]
            else:
                self._media_faults[path] = dataclasses.replace(fault, times=fault.times - 1)
            return fault

    # HTTP faults, reset, state ------------------------------------------------------------

    def set_faults(self, **config: Any) -> FaultConfig:
        """Latency, error status or outage for matching requests (see ``FaultInjector.set``)."""
        return self.faults.set(**config)

    def clear_faults(self) -> None:
        """Remove the HTTP faults and the media faults."""
        self.faults.clear()
        self.clear_media_faults()

    def reset(self) -> None:
        """Back to the fixed catalogue, without faults (clips stay cached)."""
        with self._add_lock, self._lock:
            self._pages = build_catalogue(large_rate=self.large_rate)
            self._media_faults.clear()
        self.faults.clear()

    def state(self) -> dict[str, Any]:
        """Pages, entries and faults as JSON-ready data."""
        pages = self.pages()
        return {
            "base_url": self.base_url,
            "cache": str(self.media.folder),
            "generated": list(self.media.generated),
            "pages": [page_payload(page, self.base_url) for page in pages],
            "media_faults": [dataclasses.asdict(f) for f in self.media_faults()],
            "faults": self.faults.snapshot(),
        }


def entry_payload(entry: Entry, base_url: str = "") -> dict[str, Any]:
    """An entry as the control endpoints show it."""
    return {
        "id": entry.id, "index": entry.index, "title": entry.title, "page": entry.page,
        "media_url": f"{base_url}{entry.media_path}", "thumbnail_url": f"{base_url}{entry.thumbnail_path}",
        "size": entry.size, "rate_bytes_per_s": entry.rate, "missing": entry.missing,
        "uploaded": entry.uploaded.isoformat(),
    }


def page_payload(page: Page, base_url: str = "") -> dict[str, Any]:
    """A page as the control endpoints show it."""
    return {"name": page.name, "kind": page.kind, "title": page.title, "url": f"{base_url}{page.path}",
            "entries": [entry_payload(e, base_url) for e in page.entries]}
