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


def fit_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut on a character boundary so that its UTF-8 form fits ``max_bytes`` (file
    systems limit a name to 255 bytes, not characters: 60 CJK characters are 180 bytes)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_name(text: str, *, fallback: str, max_bytes: int = 120) -> str:
    """A file or folder name that every file system accepts and that cannot leave its folder:
    no separators or reserved characters, no invisible formatting characters (bidi overrides,
    zero-width), no leading dots, no trailing dots or spaces, no Windows device names, at most
    ``max_bytes`` bytes of UTF-8 (cut on a character boundary)."""
    cleaned = unicodedata.normalize("NFC", text or "")
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) != "Cf")
    cleaned = _UNSAFE.sub(" ", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).lstrip(". ").strip()
    cleaned = fit_bytes(cleaned, max_bytes).rstrip(" .")
    device = cleaned.split(".")[0].strip().upper()
    if not cleaned or device in _RESERVED or set(cleaned) <= {"."}:
        return fallback
    return cleaned


def member_folder(username: str, user_id: int) -> str:
    return safe_name(username, fallback=f"member-{user_id}", max_bytes=64)


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
    ident = safe_name(entry_id, fallback="video", max_bytes=40)
    name = safe_name(title, fallback=ident, max_bytes=120)
    stem = f"{name} [{ident}]"
    return f"{position:02d} - {stem}" if numbered else stem


def collection_title(title: str, username: str, *, taken: set[str]) -> str:
    """A playlist's collection is named after it; if that name is taken (another member's
    collection, or one of the member's own earlier playlists of the same name), the member's
    name is added, then a number."""
    base = fit_bytes((title or "YouTube").strip(), 150) or "YouTube"
    if base not in taken:
        return base
    candidate, n = f"{base} ({username})", 2
    while candidate in taken:
        candidate, n = f"{base} ({username} {n})", n + 1
    return candidate


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
