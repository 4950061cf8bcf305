"""The rules of YouTube downloads that need no database: safe folder and file names, quality
choices, how a download's state follows from its items, and the words and numbers shown."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable

from ...models import DownloadState, ItemState

QUALITIES: dict[str, str] = {"best": "Best", "1080": "1080p", "720": "720p", "480": "480p", "audio": "Audio only"}

DOWNLOAD_LABELS = {
    DownloadState.QUEUED.value: "Queued",
    DownloadState.RUNNING.value: "Downloading",
    DownloadState.ADDING.value: "Adding to Plex",
    DownloadState.WAITING_PLEX.value: "Waiting for Plex",
    DownloadState.DONE.value: "Done",
    DownloadState.FAILED.value: "Failed",
    DownloadState.CANCELLED.value: "Cancelled",
}
ITEM_LABELS = {
    ItemState.QUEUED.value: "Queued",
    ItemState.PAUSED.value: "Paused",
    ItemState.DOWNLOADING.value: "Downloading",
    ItemState.PROCESSING.value: "Processing",
    ItemState.DONE.value: "Done",
    ItemState.FAILED.value: "Failed",
    ItemState.CANCELLED.value: "Cancelled",
}
TONES = {
    "queued": "gray", "paused": "amber", "running": "blue", "downloading": "blue", "processing": "violet",
    "adding_to_plex": "violet", "waiting_plex": "amber", "done": "green", "failed": "red", "cancelled": "gray",
}

#: Characters no file system accepts (Windows is the strictest), and control characters.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_name(text: str, *, fallback: str, max_len: int = 80) -> str:
    """A file or folder name that every file system accepts and that cannot leave its folder:
    no separators or reserved characters, no leading dots, no trailing dots or spaces, no
    Windows device names, at most ``max_len`` characters (cut on a character boundary)."""
    cleaned = unicodedata.normalize("NFC", text or "")
    cleaned = _UNSAFE.sub(" ", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip().lstrip(".").strip()
    cleaned = cleaned[:max_len].rstrip(" .")
    if not cleaned or cleaned.split(".")[0].upper() in _RESERVED or set(cleaned) <= {"."}:
        return fallback
    return cleaned


def member_folder(username: str, user_id: int) -> str:
    return safe_name(username, fallback=f"member-{user_id}", max_len=64)


def download_folder(username: str, user_id: int, title: str, taken: Iterable[str]) -> str:
    """``<member>/<title>``, made unique among the member's folders already in use."""
    base = f"{member_folder(username, user_id)}/{safe_name(title, fallback='Videos')}"
    used = {t.casefold() for t in taken}
    folder, n = base, 2
    while folder.casefold() in used:
        folder, n = f"{base} ({n})", n + 1
    return folder


def item_stem(position: int, title: str, entry_id: str, *, numbered: bool) -> str:
    """``NN - <title> [<id>]`` for a playlist entry, ``<title> [<id>]`` for a single video."""
    ident = safe_name(entry_id, fallback="video", max_len=40)
    name = safe_name(title, fallback=ident, max_len=120)
    stem = f"{name} [{ident}]"
    return f"{position:02d} - {stem}" if numbered else stem


def collection_title(title: str, username: str, *, taken_by_another: bool) -> str:
    """A playlist's collection is named after it; if another member already has a collection
    of that name, this member's gets their name added."""
    base = (title or "YouTube").strip()[:200]
    return f"{base} ({username})" if taken_by_another else base


def download_state(item_states: Iterable[str]) -> str:
    """What a download is, from its items: running while any is open; then Plex's turn if any
    finished; failed if none did; cancelled if every item was cancelled."""
    states = list(item_states)
    if not states:
        return DownloadState.CANCELLED.value
    if any(s in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value) for s in states):
        return DownloadState.RUNNING.value
    if any(s in (ItemState.QUEUED.value, ItemState.PAUSED.value) for s in states):
        started = any(s != ItemState.QUEUED.value for s in states)
        return DownloadState.RUNNING.value if started else DownloadState.QUEUED.value
    if any(s == ItemState.DONE.value for s in states):
        return DownloadState.ADDING.value
    if all(s == ItemState.CANCELLED.value for s in states):
        return DownloadState.CANCELLED.value
    return DownloadState.FAILED.value


def human_bytes(value: float | None) -> str:
    if value is None or value < 0:
        return ""
    units = ["B", "KB", "MB", "GB", "TB"]
    size, unit = float(value), 0
    while size >= 1000 and unit < len(units) - 1:
        size, unit = size / 1000, unit + 1
    return f"{size:.0f} {units[unit]}" if unit == 0 or size >= 100 else f"{size:.1f} {units[unit]}"


def human_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_speed(bytes_per_s: float | None) -> str:
    return f"{human_bytes(bytes_per_s)}/s" if bytes_per_s else ""


def percent(done: int | None, total: int | None) -> int:
    if not total or done is None or total <= 0:
        return 0
    return max(0, min(100, int(done * 100 / total)))
