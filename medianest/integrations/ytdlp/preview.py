"""What a link holds, before anything is downloaded.

:func:`preview` checks the link, then runs ``extract_info(download=False,
extract_flat="in_playlist")`` in a child process (the same one downloads use): the call is bounded
by ``timeout_s`` with a hard kill, and every connection it opens goes through the child's address
guard. A thread would do for the call itself, but could neither be stopped at the deadline nor
be given that guard without changing the whole web process.

Entries are checked with the same link rules as the link itself: an entry whose URL is on a
host that is not allowed (or on a private address) is **dropped** and counted in
``Preview.dropped``, so one odd entry does not hide a playlist's other videos, and the member
sees how many were left out. The download of an entry checks its media host again (``worker.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .errors import DownloadFailed, LinkRefused, NetworkError, error_from_kind
from .jobs import as_float, as_int
from .links import check_link, inspect_link, watch_url, youtube_video_id
from .process import ChildProcess


@dataclass(frozen=True)
class PreviewEntry:
    """One video of a preview. ``index`` is its 1-based position in the playlist (what
    ``ItemJob.playlist_index`` wants); ``url`` is the entry's own link (a YouTube watch link, or
    the media URL of an entry on another site)."""

    index: int
    id: str
    title: str | None
    duration_s: float | None
    url: str
    thumbnail_url: str | None
    filesize: int | None


@dataclass(frozen=True)
class Preview:
    """A video (one entry) or a playlist.

    Attributes:
        total_count: the number of entries the site reports, else the number found; None when
            the list was cut at ``max_entries`` and the site does not say.
        estimated_bytes: the sum of the sizes the site announces for the listed entries (None
            when it announces none; YouTube's flat playlist listings usually do not).
        truncated: the playlist has more entries than ``max_entries``.
        dropped: entries left out because their link breaks the link rules.
    """

    kind: str
    id: str
    title: str | None
    uploader: str | None
    thumbnail_url: str | None
    duration_s: float | None
    webpage_url: str
    entries: tuple[PreviewEntry, ...]
    total_count: int | None
    estimated_bytes: int | None
    truncated: bool
    dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preview:
        entries = tuple(PreviewEntry(**entry) for entry in data.get("entries") or ())
        return cls(**{**data, "entries": entries})


async def preview(url: str, *, max_entries: int, timeout_s: float, allow_private: bool,
                  allowed_hosts: Iterable[str], extractors: Iterable[str] = ()) -> Preview:
    """The preview of ``url`` (a video or a playlist). ``extractors`` as in ``ItemJob.extractors``.

    Raises:
        LinkRefused: the link breaks the link rules (plain sentence in ``user_message``).
        DownloadFailed: a subclass saying why yt-dlp could not read it (``NetworkError`` also
            when ``timeout_s`` passed).
    """
    if max_entries < 1:
        raise ValueError("max_entries must be at least 1")
    hosts = tuple(allowed_hosts)
    link = await check_link(url, allowed_hosts=hosts, allow_private=allow_private)
    child = await ChildProcess.start({"op": "preview", "url": link.url, "max_entries": max_entries,
                                      "allowed_hosts": list(hosts), "allow_private": allow_private,
                                      "socket_timeout": max(1.0, min(timeout_s, 20.0)),
                                      "extractors": list(extractors)})
    try:
        async with asyncio.timeout(timeout_s):
            async for event in child.events():
                if event.get("event") == "preview":
                    return Preview.from_json(event["preview"])
                if event.get("event") == "error":
                    raise error_from_kind(**{k: v for k, v in event.items() if k != "event"})
            await child.wait(2.0)
        raise DownloadFailed(raw=f"preview child ended without an answer: {child.stderr_tail()[-500:]}")
    except TimeoutError as exc:
        raise NetworkError(raw=f"preview of {link.url} took longer than {timeout_s} s") from exc
    finally:
        await child.close()


def build_preview(info: dict[str, Any], *, max_entries: int, allowed_hosts: Iterable[str],
                  allow_private: bool) -> Preview:
    """The compact preview of a sanitised ``extract_info`` result (pure; runs in the child)."""
    hosts = tuple(allowed_hosts)
    webpage_url = str(info.get("webpage_url") or info.get("original_url") or "")
    if info.get("_type") not in ("playlist", "multi_video"):
        entry = _entry(info, 1, hosts, allow_private)
        return Preview(kind="video", id=str(info.get("id")), title=info.get("title"), uploader=_uploader(info),
                       thumbnail_url=_thumbnail(info), duration_s=as_float(info.get("duration")),
                       webpage_url=webpage_url, entries=(entry,) if entry else (), total_count=1,
                       estimated_bytes=entry.filesize if entry else None, truncated=False,
                       dropped=0 if entry else 1)
    raw_entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
    reported = as_int(info.get("playlist_count"))
    truncated = len(raw_entries) > max_entries or (reported is not None and reported > max_entries)
    entries, dropped = [], 0
    for position, raw in enumerate(raw_entries[:max_entries], start=1):
        entry = _entry(raw, as_int(raw.get("playlist_index")) or position, hosts, allow_private)
        if entry is None:
            dropped += 1
        else:
            entries.append(entry)
    sizes = [e.filesize for e in entries if e.filesize is not None]
    total = reported if reported is not None else (None if truncated else len(raw_entries))
    return Preview(kind="playlist", id=str(info.get("id")), title=info.get("title"), uploader=_uploader(info),
                   thumbnail_url=_thumbnail(info) or (entries[0].thumbnail_url if entries else None),
                   duration_s=_sum_or_none(e.duration_s for e in entries), webpage_url=webpage_url,
                   entries=tuple(entries), total_count=total, estimated_bytes=sum(sizes) if sizes else None,
                   truncated=truncated, dropped=dropped)


def _entry(raw: dict[str, Any], index: int, hosts: tuple[str, ...], allow_private: bool) -> PreviewEntry | None:
    """An entry that passes the link rules, or None."""
    video_id = raw.get("id")
    if not video_id:
        return None
    youtube = str(raw.get("ie_key") or raw.get("extractor_key") or "").startswith("Youtube")
    if raw.get("_type") in ("url", "url_transparent"):
        url = raw.get("url")
    elif youtube:
        url = raw.get("webpage_url")  # a resolved YouTube video's "url" is a googlevideo.com stream
    else:
        url = raw.get("url") or raw.get("webpage_url")
    if youtube and not url:
        url = watch_url(str(video_id))
    candidates = [u for u in (url, None if youtube else raw.get("webpage_url")) if u]
    if not candidates:
        return None
    try:
        for candidate in candidates:
            inspect_link(str(candidate), allowed_hosts=hosts, allow_private=allow_private)
    except LinkRefused:
        return None
    if youtube and youtube_video_id(str(url)) is None:
        return None  # a playlist or channel inside the playlist: not one video
    return PreviewEntry(index=index, id=str(video_id), title=raw.get("title"),
                        duration_s=as_float(raw.get("duration")), url=str(url), thumbnail_url=_thumbnail(raw),
                        filesize=as_int(raw.get("filesize")) or as_int(raw.get("filesize_approx")))


def _uploader(info: dict[str, Any]) -> str | None:
    for key in ("uploader", "channel", "playlist_uploader", "creator"):
        if isinstance(info.get(key), str) and info[key]:
            return str(info[key])
    return None


def _thumbnail(info: dict[str, Any]) -> str | None:
    if isinstance(info.get("thumbnail"), str):
        return str(info["thumbnail"])
    thumbnails = [t for t in info.get("thumbnails") or [] if isinstance(t, dict) and isinstance(t.get("url"), str)]
    return str(thumbnails[-1]["url"]) if thumbnails else None


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
