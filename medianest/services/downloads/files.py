"""Where downloads live on disk: every path is resolved under the downloads root and refused if
it would leave it; the per-member download archive (yt-dlp's ``download_archive``)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

ARCHIVES = ".archives"
TEMP_NAME = ".tmp"


def inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def download_path(root: Path, folder: str) -> Path | None:
    """``root/folder`` if it stays inside ``root`` (it always does for folders we named)."""
    path = root / folder
    return path if inside(root, path) and folder.strip() else None


def archive_path(root: Path, user_id: int) -> Path:
    """The member's download archive (yt-dlp's ``download_archive``), by id: a member folder
    follows the Plex name, which can change or be shared by two accounts."""
    return root / ARCHIVES / f"member-{int(user_id)}.txt"


def temp_dir(root: Path, item_id: int) -> Path:
    """One scratch folder per item: partial files live only here (hidden from Plex's scanner)."""
    return root / TEMP_NAME / f"item-{int(item_id)}"


def clear_temp(root: Path, item_id: int) -> None:
    shutil.rmtree(temp_dir(root, item_id), ignore_errors=True)


def remove_item_files(root: Path, file_path: str | None) -> int:
    """Delete a downloaded file and what was written beside it (thumbnail, subtitles): every
    file of the folder whose name starts with the same stem. Returns how many were removed."""
    if not file_path:
        return 0
    path = Path(file_path)
    if not inside(root, path):
        logger.warning("refusing to delete %s: outside the downloads root", path)
        return 0
    removed = 0
    folder, stem = path.parent, path.stem
    if not folder.is_dir():
        return 0
    for sibling in folder.iterdir():
        if sibling.is_file() and (sibling.name == path.name or sibling.name.startswith(stem + ".")):
            try:
                sibling.unlink()
                removed += 1
            except OSError as exc:
                logger.warning("could not delete %s: %s", sibling, exc)
    return removed


def archive_forget(root: Path, user_id: int, entry_ids: Iterable[str]) -> None:
    """Drop these ids from the member's archive, so a removed video can be downloaded again."""
    path = archive_path(root, user_id)
    ids = set(entry_ids)
    if not ids or not path.is_file():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if line.split(" ", 1)[-1].strip() not in ids]
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)


#: What yt-dlp writes beside a video, and its files in progress: never taken for the video itself.
_NOT_THE_VIDEO = {".jpg", ".jpeg", ".png", ".webp", ".part", ".ytdl", ".temp", ".json", ".vtt", ".srt", ".description"}


def existing_download(folder: Path, stem: str) -> Path | None:
    """The finished file of ``stem`` in ``folder``, if one is there (a worker killed between the
    final move and recording it leaves exactly that)."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.stem == stem and path.suffix.lower() not in _NOT_THE_VIDEO:
            return path
    return None
