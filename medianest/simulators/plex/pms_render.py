"""How the PMS simulator renders: the ``MediaContainer`` (XML or JSON), paging, and the nodes of
sections, items and collections as python-plexapi reads them (§2.11)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from medianest.simulators.plex.common import SimError, plex_param, title_sort, wants_json, xml_value
from medianest.simulators.plex.models import Collection, Item, Section
from medianest.simulators.plex.state import PlexSim


@dataclass
class Node:
    """One PMS element, rendered as XML (``tag``) or inside JSON (under ``json_key``)."""

    tag: str
    attrs: dict[str, Any]
    children: list[Node] = field(default_factory=list)
    json_key: str | None = None
    #: Render as one JSON object instead of a list entry (e.g. ``Children``).
    json_object: bool = False

    def to_xml(self) -> ET.Element:
        """This node as an ElementTree element."""
        element = ET.Element(self.tag, {k: xml_value(v) for k, v in self.attrs.items() if v is not None})
        for child in self.children:
            element.append(child.to_xml())
        return element

    def to_json(self) -> dict[str, Any]:
        """This node as PMS-style JSON (attributes plus child arrays)."""
        data: dict[str, Any] = {k: v for k, v in self.attrs.items() if v is not None}
        for child in self.children:
            key = child.json_key or child.tag
            if child.json_object:
                data[key] = child.to_json()
            else:
                data.setdefault(key, []).append(child.to_json())
        return data


def respond(request: Request, attrs: dict[str, Any], children: Iterable[Node] = (),
            headers: dict[str, str] | None = None, meta: Node | None = None) -> Response:
    """A ``MediaContainer`` with ``attrs`` and ``children``, as JSON or XML as the client accepts."""
    children = list(children)
    attrs = {"size": len(children), **attrs}
    root = Node("MediaContainer", attrs, ([meta] if meta else []) + children)
    if wants_json(request):
        return JSONResponse({"MediaContainer": root.to_json()}, headers=headers)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root.to_xml(), encoding="utf-8")
    return Response(body, media_type="text/xml;charset=utf-8", headers=headers)


def paged(request: Request, entries: list[Any], default_size: int | None = None
          ) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """The ``X-Plex-Container-Start``/``-Size`` window of ``entries``, its container attributes and headers."""
    def read(name: str) -> int | None:
        raw = plex_param(request, name)
        if raw is None:
            return None
        try:
            return max(0, int(raw))
        except ValueError:
            raise SimError(400, f"{name} must be an integer") from None

    start = read("X-Plex-Container-Start") or 0
    size = read("X-Plex-Container-Size")
    if size is None:
        size = default_size if default_size is not None else len(entries)
    window = entries[start:start + size]
    attrs = {"offset": start, "totalSize": len(entries)}
    headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Total-Size": str(len(entries))}
    return window, attrs, headers


def section_attrs(section: Section) -> dict[str, Any]:
    return {"librarySectionID": section.key, "librarySectionTitle": section.title,
            "librarySectionUUID": section.uuid}


def item_section_attrs(sim: PlexSim, item: Item | Collection) -> dict[str, Any]:
    section = sim.sections.get(item.section_key)
    return {"librarySectionTitle": section.title if section else None,
            "librarySectionID": item.section_key,
            "librarySectionKey": f"/library/sections/{item.section_key}"}


def media_nodes(item: Item) -> list[Node]:
    if not item.file:
        return []
    container = Path(item.file).suffix.lstrip(".").lower() or "mkv"
    part_key = f"/library/parts/{item.rating_key}/{item.added_at}/file.{container}"
    part = Node("Part", {"id": item.rating_key, "key": part_key,
                         "duration": item.duration_ms, "file": item.file, "size": item.size,
                         "container": container})
    return [Node("Media", {"id": item.rating_key, "duration": item.duration_ms, "bitrate": 8000,
                           "width": 1920, "height": 1080, "aspectRatio": 1.78, "audioChannels": 6,
                           "audioCodec": "eac3", "videoCodec": "h264", "videoResolution": "1080",
                           "container": container, "videoFrameRate": "24p"}, [part])]


def item_attrs(sim: PlexSim, item: Item) -> dict[str, Any]:
    thumb = f"/library/metadata/{item.rating_key}/thumb/{item.updated_at}"
    art = f"/library/metadata/{item.rating_key}/art/{item.updated_at}"
    base: dict[str, Any] = {"ratingKey": str(item.rating_key), "key": f"/library/metadata/{item.rating_key}",
                            "guid": item.guid, "type": item.type, "title": item.title}
    sort_title = title_sort(item.title)
    if sort_title != item.title:
        base["titleSort"] = sort_title
    base.update(item_section_attrs(sim, item))
    if item.type == "movie":
        base.update({"studio": item.studio, "contentRating": item.content_rating, "summary": item.summary,
                     "index": item.index, "year": item.year, "thumb": thumb, "art": art,
                     "duration": item.duration_ms})
    elif item.type == "show":
        leaves = sim.leaves(item)
        base.update({"key": f"/library/metadata/{item.rating_key}/children", "studio": item.studio,
                     "contentRating": item.content_rating, "summary": item.summary, "index": 1,
                     "year": item.year, "thumb": thumb, "art": art, "leafCount": len(leaves),
                     "viewedLeafCount": 0, "childCount": len(sim.children(item.rating_key))})
    elif item.type == "season":
        show = sim.parent(item)
        base.update({"key": f"/library/metadata/{item.rating_key}/children",
                     "parentRatingKey": str(item.parent_key), "parentGuid": show.guid if show else None,
                     "parentKey": f"/library/metadata/{item.parent_key}",
                     "parentTitle": show.title if show else None, "summary": "", "index": item.index,
                     "parentIndex": 1, "parentYear": show.year if show else None,
                     "thumb": f"/library/metadata/{item.parent_key}/thumb/{show.updated_at if show else 0}",
                     "art": f"/library/metadata/{item.parent_key}/art/{show.updated_at if show else 0}",
                     "parentThumb": f"/library/metadata/{item.parent_key}/thumb/{show.updated_at if show else 0}",
                     "leafCount": len(sim.children(item.rating_key)), "viewedLeafCount": 0})
    elif item.type == "episode":
        season = sim.parent(item)
        show = sim.parent(season) if season else None
        show_thumb = f"/library/metadata/{show.rating_key}/thumb/{show.updated_at}" if show else None
        base.update({"parentRatingKey": str(item.parent_key),
                     "grandparentRatingKey": str(show.rating_key) if show else None,
                     "parentGuid": season.guid if season else None,
                     "grandparentGuid": show.guid if show else None,
                     "grandparentKey": f"/library/metadata/{show.rating_key}" if show else None,
                     "parentKey": f"/library/metadata/{item.parent_key}",
                     "grandparentTitle": show.title if show else None,
                     "parentTitle": season.title if season else None,
                     "contentRating": item.content_rating, "summary": item.summary, "index": item.index,
                     "parentIndex": season.index if season else None, "year": item.year,
                     "thumb": thumb, "art": f"/library/metadata/{show.rating_key}/art/{show.updated_at}"
                     if show else art, "parentThumb": show_thumb, "grandparentThumb": show_thumb,
                     "duration": item.duration_ms})
    base.update({"addedAt": item.added_at, "updatedAt": item.updated_at})
    return base


def item_node(sim: PlexSim, item: Item, *, guids: bool, with_children: bool = False) -> Node:
    tag = "Video" if item.type in ("movie", "episode") else "Directory"
    children = media_nodes(item)
    children += [Node("Genre", {"tag": g}) for g in item.genres]
    # PMS tags an item with its collections; python-plexapi's ``Collection`` tag finds the
    # collection again by ``index`` == tag ``id`` under the section's ``/collections``.
    children += [Node("Collection", {"id": c.rating_key, "filter": f"collection={c.rating_key}", "tag": c.title})
                 for c in sim.collections_of(item.rating_key)]
    if guids:
        children += [Node("Guid", {"id": g}) for g in item.guids]
    if with_children and item.type in ("show", "season"):
        kids = [item_node(sim, k, guids=False) for k in sim.children(item.rating_key)]
        children.append(Node("Children", {"size": len(kids)}, kids, json_object=True))
    return Node(tag, item_attrs(sim, item), children, json_key="Metadata")


def collection_node(sim: PlexSim, collection: Collection) -> Node:
    members = [sim.items[k] for k in collection.members if k in sim.items]
    years = [m.year for m in members if m.year]
    attrs = {
        "ratingKey": str(collection.rating_key),
        "key": f"/library/collections/{collection.rating_key}/children",
        "guid": collection.guid, "type": "collection", "title": collection.title,
        "titleSort": title_sort(collection.title), **item_section_attrs(sim, collection),
        "subtype": collection.subtype, "summary": "", "index": collection.rating_key,
        "thumb": f"/library/collections/{collection.rating_key}/composite/{collection.updated_at}",
        "smart": False, "collectionMode": -1, "collectionSort": 0,
        "childCount": len(members), "minYear": min(years) if years else None,
        "maxYear": max(years) if years else None,
        "addedAt": collection.added_at, "updatedAt": collection.updated_at,
    }
    return Node("Directory", attrs, json_key="Metadata")


def section_node(section: Section) -> Node:
    attrs = {
        "allowSync": True, "art": f"/:/resources/{section.type}-fanart.jpg",
        "composite": f"/library/sections/{section.key}/composite/{section.updated_at}",
        "filters": True, "refreshing": section.running_scans > 0,
        "thumb": f"/:/resources/{section.type}.png", "key": str(section.key), "type": section.type,
        "title": section.title, "agent": section.agent, "scanner": section.scanner, "language": section.language,
        "uuid": section.uuid, "updatedAt": section.updated_at, "createdAt": section.created_at,
        "scannedAt": section.scanned_at, "content": True, "directory": True,
        "contentChangedAt": section.updated_at, "hidden": 0,
    }
    locations = [Node("Location", {"id": section.key * 100 + i, "path": p})
                 for i, p in enumerate(section.locations)]
    return Node("Directory", attrs, locations)


def render_entries(sim: PlexSim, entries: list[tuple[dict[str, Any], Any]], guids: bool) -> list[Node]:
    return [collection_node(sim, obj) if isinstance(obj, Collection) else item_node(sim, obj, guids=guids)
            for _, obj in entries]
