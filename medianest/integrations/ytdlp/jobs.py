"""What a download is asked to do (:class:`ItemJob`), what it reports while running
(:class:`Progress`) and what it produced (:class:`ItemResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

QUALITIES = ("best", "1080", "720", "480", "audio")
# Characters that would make yt-dlp's template, or the file system, read the stem as more than a name.
_BAD_STEM_CHARS = frozenset("/\\\0")


@dataclass(frozen=True)
class ItemJob:
    """One video to download.

    Attributes:
        url: what to download: a YouTube video link, or the entry's link from a preview.
        playlist_url: the playlist the entry was previewed in (used for entries of non-YouTube
            pages, which only exist inside their page).
        playlist_index: the 1-based position of the entry in that playlist at preview time.
        expected_id: the id the preview showed; anything else is never downloaded.
        output_dir: where the finished file (and its ``.jpg`` thumbnail) goes.
        stem: the final file name without extension, used literally.
        temp_dir: a scratch folder for this item only; partial files live there and nowhere else.
        quality: ``best``, ``1080``, ``720``, ``480`` or ``audio``.
        max_filesize: bytes; a bigger file is refused with :class:`~.errors.TooLarge`.
        archive_path: yt-dlp's download archive; an id already in it is skipped.
        allowed_hosts: hosts besides YouTube that may be fetched (exact or parent domains).
        allow_private: whether private, loopback and link-local addresses may be contacted.
        socket_timeout: seconds yt-dlp waits on a silent connection.
        retries: how often yt-dlp retries a failed HTTP transfer.
        extractors: yt-dlp extractor names (regexes) that may handle the links; empty means
            all of them. ``("generic", "html5")`` pins plain web pages such as the demo site,
            which also saves about a second of matching the link against every extractor.
    """

    url: str
    expected_id: str
    output_dir: Path
    stem: str
    temp_dir: Path
    playlist_url: str | None = None
    playlist_index: int | None = None
    quality: str = "best"
    max_filesize: int | None = None
    archive_path: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    socket_timeout: float = 20.0
    retries: int = 3
    extractors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, not {self.quality!r}")
        if not self.stem or self.stem in (".", "..") or self.stem.startswith(".") \
                or any(c in _BAD_STEM_CHARS for c in self.stem) or len(self.stem.encode()) > 200:
            raise ValueError(f"not a usable file name stem: {self.stem!r}")
        if not self.expected_id:
            raise ValueError("expected_id is required")
        if self.playlist_index is not None and self.playlist_index < 1:
            raise ValueError("playlist_index is 1-based")
        if self.max_filesize is not None and self.max_filesize <= 0:
            raise ValueError("max_filesize must be positive")
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "extractors", tuple(self.extractors))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("output_dir", "temp_dir", "archive_path"):
            data[key] = None if data[key] is None else str(data[key])
        data["allowed_hosts"] = list(self.allowed_hosts)
        data["extractors"] = list(self.extractors)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemJob:
        values = dict(data)
        for key in ("output_dir", "temp_dir", "archive_path"):
            values[key] = None if values.get(key) is None else Path(values[key])
        values["allowed_hosts"] = tuple(values.get("allowed_hosts") or ())
        values["extractors"] = tuple(values.get("extractors") or ())
        return cls(**values)


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``phase`` is ``downloading`` (bytes arriving; ``total_bytes`` is None when the site does not
    say) or ``processing`` (ffmpeg and the move into place; ``step`` names yt-dlp's
    post-processor, e.g. ``Metadata``, ``MoveFiles``). ``speed`` is bytes/s, ``eta`` seconds,
    ``percent`` 0–100.
    """

    phase: str
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    eta: float | None = None
    percent: float | None = None
    step: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(phase=str(data.get("phase") or "downloading"), downloaded_bytes=as_int(data.get("downloaded_bytes")),
                   total_bytes=as_int(data.get("total_bytes")), speed=as_float(data.get("speed")),
                   eta=as_float(data.get("eta")), percent=as_float(data.get("percent")),
                   step=data.get("step") if isinstance(data.get("step"), str) else None)


@dataclass(frozen=True)
class ItemResult:
    """A finished (or skipped) item.

    Attributes:
        skipped: the id was already in the download archive; nothing was downloaded.
        path: the final file (None when skipped).
        thumbnail_path: ``<stem>.jpg`` beside the file, when the site had a thumbnail.
        video_id: the id that was downloaded (always ``expected_id``).
        title: the title as the site gave it.
        size_bytes: size of the final file.
        duration_s: length in seconds, when known.
        archive_key: the download-archive line for this item (``"youtube <id>"``), when known.
        extractor: yt-dlp's extractor key (``Youtube``, ``HTML5MediaEmbed`` …).
    """

    skipped: bool
    video_id: str
    path: Path | None = None
    thumbnail_path: Path | None = None
    title: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    archive_key: str | None = None
    extractor: str | None = None
    warnings: tuple[str, ...] = field(default=())


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
