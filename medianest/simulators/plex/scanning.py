"""Scans of ``PlexSim``'s library: files named the Plex way become items, after the scan delay
a refresh asks for."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path, PurePosixPath

from medianest.simulators.plex.common import VIDEO_EXTENSIONS, hex_id
from medianest.simulators.plex.library import Library
from medianest.simulators.plex.models import Item, Section

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


class ScanningLibrary(Library):
    """The library plus its scanner (``/library/sections/{id}/refresh``); ``PlexSim`` inherits it."""

    # Set by PlexSim.__init__.
    scan_delay: float
    _tasks: dict[asyncio.Task[None], int]

    def scan(self, section_key: int, path: str | None = None) -> list[Item]:
        """Import files under the section's folders (or ``path``) that are not items yet.

        This is the synchronous core of ``/library/sections/{id}/refresh``.

        Args:
            section_key: The section to scan.
            path: Optional folder to limit the scan to; must lie under a location.

        Returns:
            The newly created items (movies or episodes, plus new shows/seasons).
        """
        with self._lock:
            section = self.section(section_key)
            locations = list(section.locations)
            known = {i.file for i in self.items.values() if i.section_key == section_key and i.file}
        roots: list[tuple[str, str]] = []  # (location, folder to walk)
        if path:
            target = os.path.normpath(path)
            for location in locations:
                loc = os.path.normpath(location)
                if target == loc or target.startswith(loc.rstrip(os.sep) + os.sep):
                    roots.append((loc, target))
                    break
            else:
                logger.warning("refresh path %s is outside section %s locations %s; nothing imported",
                               path, section_key, locations)
        else:
            roots = [(os.path.normpath(loc), os.path.normpath(loc)) for loc in locations]
        found: list[tuple[str, str]] = []
        for location, folder in roots:
            for file_path in _walk_videos(folder):
                if file_path not in known:
                    found.append((location, file_path))
        created: list[Item] = []
        with self._lock:
            if self.sections.get(section.key) is not section:
                return []  # reset() happened meanwhile
            # Another scan may have imported some of these while we walked the disk.
            known = {i.file for i in self.items.values() if i.section_key == section_key and i.file}
            for location, file_path in sorted(found):
                if file_path in known:
                    continue
                if section.type == "movie":
                    created.append(self._import_movie(section, location, file_path))
                elif section.type == "show":
                    created.extend(self._import_episode(section, location, file_path))
            section.scanned_at = int(self.now())
            if created:
                section.updated_at = section.scanned_at
        for item in created:
            logger.info("scan imported %s %r (ratingKey %s)", item.type, item.title, item.rating_key)
        return created

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


def _walk_videos(folder: str) -> list[str]:
    if os.path.isfile(folder):
        return [folder] if Path(folder).suffix.lower() in VIDEO_EXTENSIONS else []
    if not os.path.isdir(folder):
        return []
    result = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            # Skip hidden files and downloads in progress (yt-dlp's .part files).
            if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            result.append(os.path.join(dirpath, name))
    return result


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
