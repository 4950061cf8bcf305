"""The Plex Media Server's library in ``PlexSim``: the fixture sections and items, items added
through the Python API, and regular collections."""

from __future__ import annotations

import logging
import os
import threading
import uuid as uuidlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from medianest.simulators import fixtures
from medianest.simulators.plex.common import (
    COLLECTION_URI,
    TYPE_BY_NUMBER,
    VIDEO_FILES_AGENT,
    VIDEO_FILES_SCANNER,
    SimError,
    hex_id,
)
from medianest.simulators.plex.models import Collection, Item, Section, Server

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")

#: The "Other Videos" section downloads land in, and its folder without a library or downloads root.
VIDEOS_SECTION_KEY = 3
DEFAULT_VIDEOS_PATH = "/data/youtube"


class Library:
    """Sections, items and collections; ``PlexSim`` inherits them (through ``ScanningLibrary``).

    Every public method takes ``PlexSim``'s re-entrant lock.
    """

    # Set by PlexSim.__init__ / reset().
    _lock: threading.RLock
    library_root: Path | None
    downloads_root: Path | None
    household: Server
    _next_rating_key: int

    if TYPE_CHECKING:
        def now(self) -> float: ...

    def _load_library(self) -> None:
        base = fixtures.FIXTURE_EPOCH
        movies_path, tv_path, videos_path = fixtures.DEFAULT_MOVIES_PATH, fixtures.DEFAULT_TV_PATH, DEFAULT_VIDEOS_PATH
        if self.library_root is not None:
            movies_path, tv_path = str(self.library_root / "Movies"), str(self.library_root / "TV Shows")
            videos_path = str(self.library_root / "YouTube")
            for path in (movies_path, tv_path):
                os.makedirs(path, exist_ok=True)
        if self.downloads_root is not None:
            videos_path = str(self.downloads_root)
        if self.library_root is not None or self.downloads_root is not None:
            os.makedirs(videos_path, exist_ok=True)
        created = base - 365 * 86400
        self.sections: dict[int, Section] = {
            1: Section(1, "movie", "Movies", "tv.plex.agents.movie", "Plex Movie",
                       "e69655a2-ef48-4aba-bb19-d3cc3401e7d6", [movies_path], created, base, base),
            2: Section(2, "show", "TV Shows", "tv.plex.agents.series", "Plex TV Series",
                       "7b5d1a1c-6f1e-4a5e-9d0c-2b7f3f0f4c11", [tv_path], created, base, base),
            # An "Other Videos" library, as Plex creates it with the Personal Media agent.
            VIDEOS_SECTION_KEY: Section(VIDEOS_SECTION_KEY, "movie", "YouTube", VIDEO_FILES_AGENT,
                                        VIDEO_FILES_SCANNER, "3f0c9a7e-5b1d-4c2a-8e6f-1d2b3c4d5e6f", [videos_path],
                                        created, base, base, language="xn"),
        }
        self.items: dict[int, Item] = {}
        self.collections: dict[int, Collection] = {}
        self._next_rating_key = fixtures.FIRST_DYNAMIC_RATING_KEY
        for i, movie in enumerate(fixtures.MOVIES):
            rk = fixtures.MOVIE_RATING_KEY_START + i
            added = base + i * 2 * 86400
            name = f"{movie.title.replace(':', '')} ({movie.year})"
            self.items[rk] = Item(
                rk, "movie", 1, movie.title, added, added + 3600, f"plex://movie/{hex_id('movie', movie.tmdb)}",
                year=movie.year, summary=movie.summary,
                guids=[f"imdb://{movie.imdb}", f"tmdb://{movie.tmdb}"], genres=list(movie.genres),
                file=f"{movies_path}/{name}/{name}.mkv", size=(4_000 + rk) * 1_000_000,
                duration_ms=movie.duration_min * 60_000, content_rating=movie.content_rating, studio=movie.studio,
            )
        season_rk, episode_rk = fixtures.SEASON_RATING_KEY_START, fixtures.EPISODE_RATING_KEY_START
        for j, show in enumerate(fixtures.SHOWS):
            show_rk = fixtures.SHOW_RATING_KEY_START + j
            added = base + (j * 2 + 1) * 86400
            self.items[show_rk] = Item(
                show_rk, "show", 2, show.title, added, added + 3600, f"plex://show/{hex_id('show', show.tvdb)}",
                year=show.year, summary=show.summary,
                guids=[f"imdb://{show.imdb}", f"tmdb://{show.tmdb}", f"tvdb://{show.tvdb}"],
                content_rating=show.content_rating, studio=show.studio,
            )
            for s_index, episodes in enumerate(show.seasons, start=1):
                self.items[season_rk] = Item(
                    season_rk, "season", 2, f"Season {s_index}", added, added + 3600,
                    f"plex://season/{hex_id('season', show.tvdb, s_index)}",
                    parent_key=show_rk, index=s_index,
                )
                for e_index, title in enumerate(episodes, start=1):
                    ep_added = added + (s_index * 10 + e_index) * 3600
                    self.items[episode_rk] = Item(
                        episode_rk, "episode", 2, title, ep_added, ep_added + 60,
                        f"plex://episode/{hex_id('episode', show.tvdb, s_index, e_index)}",
                        year=show.year + s_index - 1, parent_key=season_rk, index=e_index,
                        summary=f"Season {s_index}, episode {e_index} of {show.title}.",
                        file=f"{tv_path}/{show.title}/Season {s_index:02d}/"
                             f"{show.title} - S{s_index:02d}E{e_index:02d}.mkv",
                        size=(1_000 + episode_rk) * 1_000_000, duration_ms=47 * 60_000,
                        content_rating=show.content_rating,
                    )
                    episode_rk += 1
                season_rk += 1

    def _new_rating_key(self) -> int:
        rk = self._next_rating_key
        self._next_rating_key += 1
        return rk

    def section(self, key: int) -> Section:
        """Return a section by key.

        Raises:
            SimError: 404 if unknown.
        """
        with self._lock:
            try:
                return self.sections[key]
            except KeyError:
                raise SimError(404, f"unknown library section {key}") from None

    def set_section_locations(self, section_key: int, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Point a section at other folders (e.g. a test's tmp dir)."""
        with self._lock:
            self.section(section_key).locations = [str(p) for p in paths]

    def children(self, rating_key: int) -> list[Item]:
        """Direct children of a show or season, in index order."""
        with self._lock:
            kids = [i for i in self.items.values() if i.parent_key == rating_key]
        return sorted(kids, key=lambda i: (i.index or 0, i.rating_key))

    def leaves(self, item: Item) -> list[Item]:
        """Episodes under a show or season."""
        if item.type == "season":
            return self.children(item.rating_key)
        if item.type == "show":
            return [e for s in self.children(item.rating_key) for e in self.children(s.rating_key)]
        return []

    def parent(self, item: Item) -> Item | None:
        """The parent item (season of an episode, show of a season)."""
        return self.items.get(item.parent_key) if item.parent_key is not None else None

    def add_movie(self, title: str, year: int | None = None, *, section_key: int = 1,
                  guids: Iterable[str] = (), file: str | None = None, summary: str = "",
                  duration_ms: int | None = None) -> Item:
        """Add a movie directly (no file needed on disk); returns the new item."""
        guids = list(guids)
        with self._lock:
            section = self.section(section_key)
            now = int(self.now())
            rk = self._new_rating_key()
            item = Item(rk, "movie", section.key, title, now, now,
                        f"plex://movie/{hex_id('movie', title, year)}" if guids else f"local://{rk}",
                        year=year, summary=summary, guids=guids, file=file,
                        size=(4_000 + rk) * 1_000_000 if file else 0, duration_ms=duration_ms)
            self.items[rk] = item
        logger.info("added movie %r (ratingKey %s)", title, rk)
        return item

    def item_by_guid(self, guid: str, *, item_type: str | None = None) -> Item | None:
        """The item (lowest ratingKey first) whose ``Guid`` list holds ``guid``, e.g. ``tmdb://949``.

        Args:
            guid: An external id such as ``tmdb://949``, ``imdb://tt0113277`` or ``tvdb://81189``.
            item_type: Only consider items of this type (``"movie"``, ``"show"`` …).
        """
        with self._lock:
            return next((i for _, i in sorted(self.items.items())
                         if guid in i.guids and (item_type is None or i.type == item_type)), None)

    def add_show(self, title: str, year: int | None = None, *, seasons: Iterable[int], guids: Iterable[str] = (),
                 section_key: int = 2, episodes_per_season: int = 1, summary: str = "") -> Item:
        """Make sure a show holds ``seasons``, each with at least ``episodes_per_season`` episodes.

        The show is the one of ``section_key`` carrying one of ``guids`` (or, without a match,
        the one titled ``title``); it is created when there is none. Missing seasons are added
        with episodes ``Episode 1`` … whose files sit under the section's first folder (they
        need not exist on disk). This is what a finished download plus a scan would produce.

        Args:
            title: Show title.
            year: First-air year.
            seasons: Season numbers (>= 1) the show must hold.
            guids: External ids (``tmdb://…``, ``tvdb://…``, ``imdb://…``) of the show.
            section_key: A ``show`` section.
            episodes_per_season: Minimum episodes per added (or empty) season, >= 1.
            summary: Show summary, for a new show.

        Returns:
            The show item.

        Raises:
            SimError: 404 for an unknown section, 400 if it is not a show section or for bad
                season numbers / episode counts.
        """
        guids = list(guids)
        wanted = sorted({int(n) for n in seasons})
        if not wanted or wanted[0] < 1:
            raise SimError(400, "seasons must be numbers >= 1")
        if episodes_per_season < 1:
            raise SimError(400, "episodes_per_season must be >= 1")
        with self._lock:
            section = self.section(section_key)
            if section.type != "show":
                raise SimError(400, f"section {section_key} is not a show section")
            shows = [i for _, i in sorted(self.items.items()) if i.section_key == section.key and i.type == "show"]
            show = next((s for s in shows if set(guids) & set(s.guids)), None) \
                or next((s for s in shows if s.title.lower() == title.lower()), None)
            now = int(self.now())
            if show is None:
                rk = self._new_rating_key()
                show = Item(rk, "show", section.key, title, now, now,
                            f"plex://show/{hex_id('show', *guids)}" if guids else f"local://{rk}",
                            year=year, summary=summary, guids=guids)
                self.items[rk] = show
            else:
                show.guids.extend(g for g in guids if g not in show.guids)
            folder = f"{section.locations[0] if section.locations else ''}/{show.title}"
            for number in wanted:
                season = next((s for s in self.children(show.rating_key) if s.index == number), None)
                if season is None:
                    rk = self._new_rating_key()
                    season = Item(rk, "season", section.key, f"Season {number}", now, now,
                                  f"plex://season/{hex_id('season', show.guid, number)}",
                                  parent_key=show.rating_key, index=number)
                    self.items[rk] = season
                have = len(self.children(season.rating_key))
                for index in range(have + 1, episodes_per_season + 1):
                    rk = self._new_rating_key()
                    self.items[rk] = Item(
                        rk, "episode", section.key, f"Episode {index}", now, now,
                        f"plex://episode/{hex_id('episode', show.guid, number, index)}",
                        year=show.year, parent_key=season.rating_key, index=index,
                        file=f"{folder}/Season {number:02d}/{show.title} - S{number:02d}E{index:02d}.mkv",
                        size=(1_000 + rk) * 1_000_000, duration_ms=47 * 60_000,
                    )
                season.updated_at = now
            show.updated_at = now
        logger.info("show %r (ratingKey %s) now holds seasons %s", show.title, show.rating_key, wanted)
        return show

    # ---- collections -----------------------------------------------------------------

    def _items_from_uri(self, uri: str | None) -> list[Item]:
        if not uri:
            raise SimError(400, "uri is required")
        match = COLLECTION_URI.match(uri)
        if not match:
            raise SimError(400, f"malformed uri {uri!r}")
        if match.group("machine") != self.household.machine_id:
            raise SimError(400, "uri names another server")
        ids = [int(x) for x in match.group("ids").split(",") if x]
        if not ids:
            raise SimError(400, "uri lists no items")
        missing = [i for i in ids if i not in self.items]
        if missing:
            raise SimError(400, f"unknown items {missing}")
        return [self.items[i] for i in ids]

    def create_collection(self, *, section_key: int, title: str, uri: str | None,
                          type_number: int | None = None, smart: bool = False) -> Collection:
        """Create a regular collection from a ``server://…/library/metadata/ids`` URI.

        Raises:
            SimError: 400 for a bad section, title, type or URI, or a smart collection.
        """
        with self._lock:
            if smart:
                raise SimError(400, "smart collections are not simulated")
            if section_key not in self.sections:
                raise SimError(400, f"unknown library section {section_key}")
            if not title:
                raise SimError(400, "title is required")
            members = self._items_from_uri(uri)
            subtype = self._check_members(section_key, members)
            if type_number is not None and TYPE_BY_NUMBER.get(type_number) != subtype:
                raise SimError(400, f"type {type_number} does not match the items ({subtype})")
            now = int(self.now())
            rk = self._new_rating_key()
            collection = Collection(rk, section_key, title, subtype, [], now, now,
                                    f"collection://{uuidlib.uuid4()}")
            for item in members:
                if item.rating_key not in collection.members:
                    collection.members.append(item.rating_key)
            self.collections[rk] = collection
        logger.info("created collection %r (%s) with %s items", title, rk, len(collection.members))
        return collection

    def _check_members(self, section_key: int, members: list[Item]) -> str:
        types = {i.type for i in members}
        if len(types) != 1:
            raise SimError(400, "cannot mix item types in a collection")
        if any(i.section_key != section_key for i in members):
            raise SimError(400, "items belong to another section")
        return types.pop()

    def collection(self, rating_key: int) -> Collection:
        """Return a collection by ratingKey.

        Raises:
            SimError: 404 if unknown.
        """
        with self._lock:
            try:
                return self.collections[rating_key]
            except KeyError:
                raise SimError(404, f"unknown collection {rating_key}") from None

    def add_to_collection(self, rating_key: int, uri: str | None) -> Collection:
        """Add the items named by ``uri`` (duplicates are ignored)."""
        with self._lock:
            collection = self.collection(rating_key)
            members = self._items_from_uri(uri)
            if self._check_members(collection.section_key, members) != collection.subtype:
                raise SimError(400, "item type does not match the collection")
            for item in members:
                if item.rating_key not in collection.members:
                    collection.members.append(item.rating_key)
            collection.updated_at = int(self.now())
            return collection

    def remove_from_collection(self, rating_key: int, item_key: int) -> Collection:
        """Remove one item from a collection.

        Raises:
            SimError: 404 for an unknown collection or an item not in it.
        """
        with self._lock:
            collection = self.collection(rating_key)
            if item_key not in collection.members:
                raise SimError(404, f"item {item_key} is not in collection {rating_key}")
            collection.members.remove(item_key)
            collection.updated_at = int(self.now())
            return collection

    def delete_collection(self, rating_key: int) -> None:
        """Delete a collection (its items stay)."""
        with self._lock:
            self.collection(rating_key)
            del self.collections[rating_key]

    def collections_of(self, rating_key: int) -> list[Collection]:
        """The collections holding an item (its ``Collection`` tags), oldest first."""
        with self._lock:
            return [c for _, c in sorted(self.collections.items()) if rating_key in c.members]

    def _trash(self, gone: Iterable[Item]) -> list[Item]:
        """Delete items as emptying the trash does, with the seasons and shows this leaves empty.

        The items leave every collection, and a collection this leaves empty is deleted too.
        The caller holds the lock.

        Returns:
            Every item removed (the given ones plus emptied parents).
        """
        removed: list[Item] = []
        for item in gone:
            if self.items.pop(item.rating_key, None) is None:
                continue
            removed.append(item)
            parent = self.parent(item)
            while parent is not None and not self.children(parent.rating_key):
                del self.items[parent.rating_key]
                removed.append(parent)
                parent = self.parent(parent)
        keys = {i.rating_key for i in removed}
        now = int(self.now())
        for collection in list(self.collections.values()):
            if keys.isdisjoint(collection.members):
                continue
            collection.members = [k for k in collection.members if k not in keys]
            collection.updated_at = now
            if not collection.members:
                del self.collections[collection.rating_key]
                logger.info("collection %r (%s) is empty and was deleted", collection.title, collection.rating_key)
        return removed
