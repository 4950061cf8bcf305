"""Scans of ``PlexSim``'s library: files named the Plex way become items, after the scan delay
a refresh asks for."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from pathlib import Path, PurePosixPath

from medianest.simulators.plex.common import (
    THUMB_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VIDEO_FILES_SCANNER,
    hex_id,
)
from medianest.simulators.plex.library import Library
from medianest.simulators.plex.models import Item, Section

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")

#: Scanners that make every video file an item titled after its name ("Other Videos").
VIDEO_FILES_SCANNERS = frozenset({VIDEO_FILES_SCANNER, "Plex Video Files"})
#: Files still being written: yt-dlp's ``.part`` and ``.ytdl``, a post-processor's ``.temp.mp4``.
IN_PROGRESS_SUFFIXES = frozenset({".part", ".ytdl", ".temp"})
_TRACK_PREFIX = re.compile(r"^(\d+) - (.+)$", re.DOTALL)
_ID_SUFFIX = re.compile(r"\s*\[[^\[\]]+\]$")


class ScanningLibrary(Library):
    """The library plus its scanner (``/library/sections/{id}/refresh``); ``PlexSim`` inherits it."""

    # Set by PlexSim.__init__.
    scan_delay: float
    _tasks: dict[asyncio.Task[None], int]
    _scan_lock: threading.Lock

    def scan(self, section_key: int, path: str | None = None) -> list[Item]:
        """Import files under the section's folders (or ``path``) that are not items yet, and
        remove the items whose files are gone from there.

        This is the synchronous core of ``/library/sections/{id}/refresh``. Removal is what Plex
        does with "Empty trash automatically after every scan" (its default): scanned items whose
        file is missing go, with the seasons and shows left empty, out of every collection, and a
        collection left empty goes too. A location that does not exist (an unmounted disk) is
        neither imported from nor emptied. Fixture items and items added through the Python API
        have no file on disk and are never removed.

        Args:
            section_key: The section to scan.
            path: Optional folder (or file) to limit the scan to; must lie under a location.

        Returns:
            The newly created items (movies, videos or episodes, plus new shows/seasons).
        """
        with self._scan_lock:
            return self._scan(section_key, path)

    def _scan(self, section_key: int, path: str | None) -> list[Item]:
        with self._lock:
            section = self.section(section_key)
            locations = list(section.locations)
        found: dict[str, tuple[str, str | None]] = {}  # video file -> (its location, thumb beside it)
        walked: list[str] = []
        for location, folder in _scan_roots(section_key, locations, path):
            if not os.path.isdir(location):
                logger.warning("section %s location %s is unavailable; not scanned", section_key, location)
                continue
            walked.append(folder)
            for file_path in _walk_videos(folder):
                found[file_path] = (location, _thumb_beside(file_path))
        created: list[Item] = []
        with self._lock:
            if self.sections.get(section.key) is not section:
                return []  # reset() happened meanwhile
            # Read the items only now: the Python API may have added some while we walked the disk.
            by_file = {i.file: i for i in self.items.values() if i.section_key == section_key and i.file}
            for file_path, (location, thumb) in sorted(found.items()):
                item = by_file.get(file_path)
                if item is None:
                    created.extend(self._import(section, location, file_path, thumb))
                else:
                    self._rescan_item(item, thumb)
            gone = [i for i in by_file.values() if i.scanned and i.file not in found
                    and any(_is_under(i.file or "", folder) for folder in walked)]
            removed = self._trash(gone)
            section.scanned_at = int(self.now())
            if created or removed:
                section.updated_at = section.scanned_at
        for item in created:
            logger.info("scan imported %s %r (ratingKey %s)", item.type, item.title, item.rating_key)
        for item in removed:
            logger.info("scan removed %s %r (ratingKey %s): file gone", item.type, item.title, item.rating_key)
        return created

    def _import(self, section: Section, location: str, file_path: str, thumb: str | None) -> list[Item]:
        if section.scanner in VIDEO_FILES_SCANNERS:
            created = [self._import_video_file(section, file_path)]
        elif section.type == "movie":
            created = [self._import_movie(section, location, file_path)]
        elif section.type == "show":
            created = self._import_episode(section, location, file_path)
        else:
            return []
        created[-1].thumb_file = thumb  # the movie, video or episode is last
        for item in created:
            item.scanned = True
        return created

    def _rescan_item(self, item: Item, thumb: str | None) -> None:
        """A known file seen again: pick up a replaced file's size and a new or changed thumbnail."""
        size = _file_size(item.file or "")
        if thumb != item.thumb_file or size != item.size:
            item.thumb_file, item.size = thumb, size
            item.updated_at = max(int(self.now()), item.updated_at + 1)  # a new thumb URL

    def _import_video_file(self, section: Section, file_path: str) -> Item:
        title, index = video_file_title(Path(file_path).stem)
        now = int(self.now())
        rk = self._new_rating_key()
        item = Item(rk, "movie", section.key, title, now, now, f"local://{rk}", index=index,
                    file=file_path, size=_file_size(file_path))
        self.items[rk] = item
        return item

    def _import_movie(self, section: Section, location: str, file_path: str) -> Item:
        rel = PurePosixPath(Path(file_path).relative_to(location).as_posix())
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        title, year, guids = _parse_media_name(source)
        now = int(self.now())
        rk = self._new_rating_key()
        item = Item(
            rk, "movie", section.key, title, now, now,
            f"plex://movie/{hex_id('movie', *guids)}" if guids else f"local://{rk}",
            year=year, guids=guids, file=file_path, size=_file_size(file_path),
        )
        self.items[rk] = item
        return item

    def _import_episode(self, section: Section, location: str, file_path: str) -> list[Item]:
        rel = PurePosixPath(Path(file_path).relative_to(location).as_posix())
        stem = rel.stem
        marker = re.search(r"[Ss](\d{1,3})[ ._-]?[Ee](\d{1,4})|(\d{1,2})x(\d{1,3})", stem)
        if len(rel.parts) > 1:
            show_source = rel.parts[0]
        elif marker:
            show_source = stem[: marker.start()].strip(" ._-") or stem
        else:
            show_source = stem
        show_title, show_year, show_guids = _parse_media_name(show_source)
        season_index = 1
        episode_index: int | None = None
        if marker:
            season_index = int(marker.group(1) or marker.group(3))
            episode_index = int(marker.group(2) or marker.group(4))
        else:
            season_dir = next((p for p in rel.parts[1:-1] if re.match(r"(?i)season\s*\d+", p)), None)
            if season_dir:
                season_index = int(re.search(r"\d+", season_dir).group())  # type: ignore[union-attr]
        now = int(self.now())
        created: list[Item] = []
        show = next((i for i in self.items.values() if i.section_key == section.key and i.type == "show"
                     and i.title.lower() == show_title.lower()), None)
        if show is None:
            rk = self._new_rating_key()
            show = Item(rk, "show", section.key, show_title, now, now,
                        f"plex://show/{hex_id('show', *show_guids)}" if show_guids else f"local://{rk}",
                        year=show_year, guids=show_guids)
            self.items[rk] = show
            created.append(show)
        season = next((s for s in self.children(show.rating_key) if s.index == season_index), None)
        if season is None:
            rk = self._new_rating_key()
            season = Item(rk, "season", section.key, f"Season {season_index}", now, now, f"local://{rk}",
                          parent_key=show.rating_key, index=season_index)
            self.items[rk] = season
            created.append(season)
        if episode_index is None:
            episode_index = max((e.index or 0 for e in self.children(season.rating_key)), default=0) + 1
        title = stem[marker.end():].strip(" ._-") if marker else ""
        rk = self._new_rating_key()
        episode = Item(rk, "episode", section.key, title or f"Episode {episode_index}", now, now,
                       f"local://{rk}", year=show.year, parent_key=season.rating_key, index=episode_index,
                       file=file_path, size=_file_size(file_path))
        self.items[rk] = episode
        created.append(episode)
        show.updated_at = season.updated_at = now
        return created

    def start_refresh(self, section_key: int, path: str | None = None) -> None:
        """Mark the section as refreshing and import after ``scan_delay`` (needs a running loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            section = self.section(section_key)
            section.running_scans += 1

        async def run() -> None:
            try:
                await asyncio.sleep(self.scan_delay)
                await asyncio.to_thread(self.scan, section_key, path)
            except Exception:  # a failed scan must not leave the section "refreshing"
                logger.exception("scan of section %s failed", section_key)
            finally:
                with self._lock:
                    section.running_scans = max(0, section.running_scans - 1)

        task = loop.create_task(run())
        self._tasks[task] = section_key
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    def cancel_refresh(self, section_key: int | None = None) -> None:
        """Cancel pending scans (all sections when ``section_key`` is ``None``).

        Must be called from the event loop that runs the scans.
        """
        for task, key in list(self._tasks.items()):
            if section_key is None or key == section_key:
                task.cancel()
        with self._lock:
            for section in self.sections.values():
                if section_key is None or section.key == section_key:
                    section.running_scans = 0


def _scan_roots(section_key: int, locations: list[str], path: str | None) -> list[tuple[str, str]]:
    """(location, folder to walk) pairs: every location, or the one ``path`` lies under."""
    if not path:
        return [(os.path.normpath(loc), os.path.normpath(loc)) for loc in locations]
    target = os.path.normpath(path)
    for location in locations:
        loc = os.path.normpath(location)
        if _is_under(target, loc):
            return [(loc, target)]
    logger.warning("refresh path %s is outside section %s locations %s; nothing scanned", path, section_key, locations)
    return []


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk_videos(folder: str) -> list[str]:
    if os.path.isfile(folder):
        return [folder] if _is_finished_video(os.path.basename(folder)) else []
    if not os.path.isdir(folder):
        return []
    result = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        result.extend(os.path.join(dirpath, name) for name in filenames if _is_finished_video(name))
    return result


def _is_finished_video(name: str) -> bool:
    """A video file that is not hidden and not being written (``.part``/``.ytdl`` downloads,
    ``.temp`` files of a post-processor)."""
    path = Path(name)
    if name.startswith(".") or path.suffix.lower() not in VIDEO_EXTENSIONS:
        return False
    return not {s.lower() for s in path.suffixes} & IN_PROGRESS_SUFFIXES


def _thumb_beside(file_path: str) -> str | None:
    """``<stem>.jpg``/``.jpeg``/``.png``/``.webp`` next to a video (Plex's local media assets)."""
    stem = os.path.splitext(file_path)[0]
    for extension in THUMB_EXTENSIONS:
        for candidate in (stem + extension, stem + extension.upper()):
            if os.path.isfile(candidate):
                return candidate
    return None


def video_file_title(stem: str) -> tuple[str, int | None]:
    """Title and index of a file in an "Other Videos" library, as the Plex Video Files Scanner
    reads our names ``NN - Title [id]``: the leading number becomes the index, the trailing
    ``[id]`` goes, the rest stays verbatim."""
    index = None
    match = _TRACK_PREFIX.match(stem)
    if match:
        index, stem = int(match.group(1)), match.group(2)
    title = _ID_SUFFIX.sub("", stem)
    return (title or stem), index


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _parse_media_name(name: str) -> tuple[str, int | None, list[str]]:
    """Parse "Title (Year) {tmdb-123}"-style names as Plex's naming guide allows.

    Returns:
        The title, the year if present, and Guid ids from ``{imdb-…}``/``{tmdb-…}``/
        ``{tvdb-…}`` hints.
    """
    guids = [f"{kind.lower()}://{value}" for kind, value in
             re.findall(r"\{(imdb|tmdb|tvdb)-([^}]+)\}", name, flags=re.IGNORECASE)]
    cleaned = re.sub(r"\{[^}]*\}", " ", name)
    cleaned = re.sub(r"\s*\[[^\]]*\]\s*$", "", cleaned)  # yt-dlp style "[id]" suffix
    if " " not in cleaned.strip():
        cleaned = re.sub(r"[._]+", " ", cleaned)
    year = None
    match = re.match(r"^(?P<title>.+?)[\s(\[]+(?P<year>(?:19|20)\d{2})(?:[)\]]|\s|$)", cleaned.strip())
    if match:
        cleaned, year = match.group("title"), int(match.group("year"))
    title = re.sub(r"\s+", " ", cleaned).strip(" -._") or name
    return title, year, guids
