"""The video site's fixed catalogue: pages (playlists and single videos) and their entries.

An entry's ``id`` is what yt-dlp's ``html5`` extractor reports for it, ``<page name>-<n>``
(``n`` = its 1-based position on the page), and names its media (``/media/<id>.mp4``) and
thumbnail (``/thumbs/<id>.jpg``). Pages only grow at the end, so ids never move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from medianest.simulators.video_site.media import ClipSpec

MIB = 1024 * 1024
#: Size of each entry of ``/playlists/big``.
BIG_ENTRY_BYTES = 20 * MIB
#: Size of the one entry of ``/playlists/large``.
LARGE_ENTRY_BYTES = 40 * MIB
#: Default serving rate of ``/playlists/large``'s file, in bytes per second.
DEFAULT_LARGE_RATE = 2_000_000
BIG_ENTRIES = 10
#: Upload date of entry 1 of each page; later entries are a day apart (sent as ``Last-Modified``).
FIXTURE_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

PLAYLIST = "playlist"
VIDEO = "video"
#: Test patterns the clips cycle through (all ``lavfi`` sources of ffmpeg 5+).
PATTERNS = ("testsrc2", "smptebars", "testsrc", "pal75bars", "smptehdbars", "rgbtestsrc", "yuvtestsrc")


@dataclass(frozen=True)
class Entry:
    """One video of a page.

    Attributes:
        id: ``<page>-<n>``, as yt-dlp reports it.
        page: Name of the page holding it.
        index: 1-based position on the page.
        title: The site's own title (caption on the page, mp4 ``title`` tag). yt-dlp does not
            see it: the ``html5`` extractor titles entries ``<page title> (<n>)``.
        clip: Recipe of its clip (and thumbnail).
        size: Served size in bytes when padded (big, large), ``None`` = the clip itself.
        rate: Serving rate in bytes/s, ``None`` = full speed (a media fault can override it).
        missing: Its media URL answers 404 (the thumbnail still exists).
        uploaded: Sent as ``Last-Modified`` of the media.
    """

    id: str
    page: str
    index: int
    title: str
    clip: ClipSpec
    size: int | None = None
    rate: int | None = None
    missing: bool = False
    uploaded: datetime = FIXTURE_EPOCH

    @property
    def media_path(self) -> str:
        """Path of the media URL."""
        return f"/media/{self.id}.mp4"

    @property
    def thumbnail_path(self) -> str:
        """Path of the thumbnail (the ``<video poster>``)."""
        return f"/thumbs/{self.id}.jpg"


@dataclass(frozen=True)
class Page:
    """A playlist page (``/playlists/<name>``) or a single-video page (``/videos/<name>``).

    Attributes:
        name: Last path segment; yt-dlp's playlist id.
        kind: ``"playlist"`` or ``"video"``.
        title: The ``<title>``; yt-dlp's playlist title.
        description: ``og:description``; yt-dlp's playlist description.
        entries: The videos, in page order.
        entry_size: Padded size of entries added at run time (``None`` = unpadded).
        entry_rate: Serving rate of entries added at run time.
        lazy: Its clips are made on the first request of the page or of one of its files, not at start.
    """

    name: str
    kind: str
    title: str
    description: str
    entries: tuple[Entry, ...]
    entry_size: int | None = None
    entry_rate: int | None = None
    lazy: bool = False

    @property
    def path(self) -> str:
        """Path of the page."""
        return f"/playlists/{self.name}" if self.kind == PLAYLIST else f"/videos/{self.name}"


def entry(page: str, index: int, title: str, pattern: str, hue: int, frequency: int, *, duration: float = 3.0,
          size: int | None = None, rate: int | None = None, missing: bool = False) -> Entry:
    """Build an entry of ``page`` at ``index`` with a clip of the given look."""
    entry_id = f"{page}-{index}"
    clip = ClipSpec(entry_id, title, pattern=pattern, hue=hue, frequency=frequency, duration=duration)
    return Entry(entry_id, page, index, title, clip, size=size, rate=rate, missing=missing,
                 uploaded=FIXTURE_EPOCH + timedelta(days=index - 1))


def added_entry(page: Page, title: str | None = None, *, missing: bool = False) -> Entry:
    """The entry that ``add_entry`` appends to ``page``: next index, a look of its own."""
    index = len(page.entries) + 1
    return entry(page.name, index, title or f"Added clip {index}", PATTERNS[index % len(PATTERNS)],
                 (index * 67) % 360, 300 + (index * 37) % 600, duration=2.0, size=page.entry_size,
                 rate=page.entry_rate, missing=missing)


def build_catalogue(*, large_rate: int = DEFAULT_LARGE_RATE) -> dict[str, Page]:
    """The fixed pages, by name (playlist and video names never clash).

    Args:
        large_rate: Serving rate of ``/playlists/large``'s file in bytes/s (``0`` = full speed).
    """
    rate = large_rate or None
    big = tuple(entry("big", n, f"Big clip {n}", PATTERNS[n % len(PATTERNS)], (n * 36) % 360, 200 + 50 * n,
                      duration=2.0, size=BIG_ENTRY_BYTES) for n in range(1, BIG_ENTRIES + 1))
    pages = [
        Page("demo", PLAYLIST, "Demo playlist", "Three short test clips of the MediaNest demo video site.", (
            entry("demo", 1, "Colour bars", "smptebars", 0, 440),
            entry("demo", 2, "Test card", "testsrc2", 0, 554),
            entry("demo", 3, "Test card in blue", "testsrc2", 200, 659),
        )),
        Page("broken", PLAYLIST, "Broken playlist", "Entry 2's video is gone: its media URL answers 404.", (
            entry("broken", 1, "Before the gap", "pal75bars", 0, 330),
            entry("broken", 2, "The missing clip", "yuvtestsrc", 90, 392, missing=True),
            entry("broken", 3, "After the gap", "smptehdbars", 0, 494),
        )),
        Page("big", PLAYLIST, "Big playlist", f"{BIG_ENTRIES} files of {BIG_ENTRY_BYTES // MIB} MiB, served at "
             "full speed (throughput benchmark).", big, entry_size=BIG_ENTRY_BYTES, lazy=True),
        Page("large", PLAYLIST, "Large file", f"One {LARGE_ENTRY_BYTES // MIB} MiB file served slowly (progress "
             "bars, cancelling mid-file).", (
                 entry("large", 1, "Large throttled file", "smptebars", 180, 262, size=LARGE_ENTRY_BYTES,
                       rate=rate),
             ), entry_size=LARGE_ENTRY_BYTES, entry_rate=rate),
        Page("sunrise", VIDEO, "Sunrise", "A single video.", (entry("sunrise", 1, "Sunrise", "testsrc2", 30, 349),)),
        Page("ocean", VIDEO, "Ocean", "Another single video.", (entry("ocean", 1, "Ocean", "rgbtestsrc", 200, 294),)),
    ]
    return {page.name: page for page in pages}
