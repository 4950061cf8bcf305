"""The Plex Media Server library as MediaNest sees it: small typed records (sections, items,
pages, collections) and how a PMS JSON answer (``shared/docs/integrations.md`` §2) becomes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import int_or_none


@dataclass(frozen=True)
class LibrarySection:
    """A section of the PMS library.

    ``locations`` are its folders as the PMS host sees them (``Location[].path``): a download
    lands in the section whose folder holds it, and a scan can be limited to that folder. An
    "Other Videos" library has agent ``tv.plex.agents.none`` (or the legacy
    ``com.plexapp.agents.none``) and scanner ``Plex Video Files Scanner``.
    """

    key: str
    title: str
    type: str  # "movie" | "show" (MediaNest lists no other kind)
    agent: str = ""
    scanner: str = ""
    locations: tuple[str, ...] = ()


@dataclass(frozen=True)
class LibraryItem:
    """A movie, show, season, episode or video.

    ``thumb`` is a PMS path for ``PlexServerClient.image`` (an episode carries its show's
    poster); ``subtitle`` is ``"2 seasons"`` for a show, ``"Show · S01E02"`` for an episode,
    the show's title for a season and ``""`` for a movie. ``index`` is an episode's number,
    or a video's track number in an "Other Videos" library (``003 - Title [id].mp4``).
    ``files`` are the media files (``Media/Part.file``) as the PMS host sees them.
    """

    rating_key: str
    type: str
    title: str
    year: int | None
    summary: str
    thumb: str | None
    added_at: int | None
    section_key: str | None
    subtitle: str
    index: int | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class LibraryPage:
    """One page of a section: ``total`` items in all, this page starting at ``offset``."""

    total: int
    offset: int
    items: tuple[LibraryItem, ...]


@dataclass(frozen=True)
class LibraryCollection:
    """A collection of a section (§2.9); ``subtype`` is the type of its items (``movie`` …)."""

    rating_key: str
    title: str
    section_key: str | None
    subtype: str
    child_count: int
    smart: bool
    thumb: str | None
    added_at: int | None
    updated_at: int | None


#: Section types MediaNest shows, and the legacy agent Overseerr also skips (§2.3).
LIBRARY_SECTION_TYPES = frozenset({"movie", "show"})
NO_AGENT = "com.plexapp.agents.none"
#: ``/hubs/search`` hubs MediaNest lists.
SEARCH_HUB_TYPES = ("movie", "show", "episode")
#: Metadata type numbers (python-plexapi ``SEARCHTYPES``, §2.1) a collection can be made of.
SEARCH_TYPES = {"movie": 1, "show": 2, "season": 3, "episode": 4, "artist": 8, "album": 9, "track": 10,
                "clip": 12, "photo": 13, "photoalbum": 14}

_int = int_or_none


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dictionaries of a JSON list (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _subtitle(data: Mapping[str, Any]) -> str:
    kind = data.get("type")
    if kind == "show":
        seasons, episodes = _int(data.get("childCount")), _int(data.get("leafCount"))
        if seasons is not None:
            return _plural(seasons, "season")
        return _plural(episodes, "episode") if episodes is not None else ""
    if kind == "season":
        return str(data.get("parentTitle") or "")
    if kind == "episode":
        show = str(data.get("grandparentTitle") or "")
        season, episode = _int(data.get("parentIndex")), _int(data.get("index"))
        if season is None or episode is None:
            return show
        code = f"S{season:02d}E{episode:02d}"
        return f"{show} · {code}" if show else code
    return ""


def _files(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(part["file"]) for media in dicts(data.get("Media")) for part in dicts(media.get("Part"))
                 if part.get("file"))


def parse_library_item(data: Mapping[str, Any], container: Mapping[str, Any] | None = None) -> LibraryItem | None:
    """A ``Metadata`` entry as a ``LibraryItem`` (``None`` without ratingKey or type)."""
    rating_key, kind = data.get("ratingKey"), data.get("type")
    if rating_key in (None, "") or not kind:
        return None
    if kind == "episode":
        thumb = data.get("grandparentThumb") or data.get("thumb")
    elif kind == "season":
        thumb = data.get("thumb") or data.get("parentThumb")
    else:
        thumb = data.get("thumb")
    section = data.get("librarySectionID", (container or {}).get("librarySectionID"))
    return LibraryItem(rating_key=str(rating_key), type=str(kind), title=str(data.get("title") or ""),
                       year=_int(data.get("year")), summary=str(data.get("summary") or ""),
                       thumb=str(thumb) if thumb else None, added_at=_int(data.get("addedAt")),
                       section_key=str(section) if section is not None else None, subtitle=_subtitle(data),
                       index=_int(data.get("index")) if kind in ("episode", "movie", "clip") else None,
                       files=_files(data))


def parse_items(value: Any, container: Mapping[str, Any] | None = None) -> tuple[LibraryItem, ...]:
    """The ``LibraryItem``s of a ``Metadata`` list (entries without ratingKey or type are left out)."""
    return tuple(i for i in (parse_library_item(d, container) for d in dicts(value)) if i is not None)


def parse_section(data: Mapping[str, Any]) -> LibrarySection | None:
    """A ``/library/sections`` ``Directory`` as a ``LibrarySection`` (``None`` without key or type)."""
    if data.get("key") in (None, "") or not data.get("type"):
        return None
    locations = tuple(str(loc["path"]) for loc in dicts(data.get("Location")) if loc.get("path"))
    return LibrarySection(key=str(data["key"]), title=str(data.get("title") or ""), type=str(data["type"]),
                          agent=str(data.get("agent") or ""), scanner=str(data.get("scanner") or ""),
                          locations=locations)


def parse_collection(data: Mapping[str, Any], container: Mapping[str, Any] | None = None
                     ) -> LibraryCollection | None:
    """A collection's ``Metadata`` entry as a ``LibraryCollection`` (``None`` if it is none)."""
    if data.get("ratingKey") in (None, "") or data.get("type") != "collection":
        return None
    section = data.get("librarySectionID", (container or {}).get("librarySectionID"))
    thumb = data.get("thumb")
    return LibraryCollection(rating_key=str(data["ratingKey"]), title=str(data.get("title") or ""),
                             section_key=str(section) if section is not None else None,
                             subtype=str(data.get("subtype") or ""), child_count=_int(data.get("childCount")) or 0,
                             smart=str(data.get("smart")).lower() in ("1", "true"),
                             thumb=str(thumb) if thumb else None, added_at=_int(data.get("addedAt")),
                             updated_at=_int(data.get("updatedAt")))


def is_under(file: str, folder: str) -> bool:
    """Whether a PMS host path is ``folder`` or lies below it (``/`` or ``\\`` separated, as the host writes)."""
    base = folder.rstrip("/\\")
    if not base:
        return file.startswith(("/", "\\"))
    return file == base or file.startswith((base + "/", base + "\\"))
