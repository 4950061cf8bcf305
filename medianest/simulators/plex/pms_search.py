"""The PMS simulator's hub search (``/hubs/search``) and its generated images (posters, art,
section composites, resources and the photo transcoder)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from medianest.simulators.plex.common import THUMB_EXTENSIONS, SimError, png_response, title_sort
from medianest.simulators.plex.models import Collection, Item
from medianest.simulators.plex.pms_render import Node, collection_node, item_node, respond
from medianest.simulators.plex.state import PlexSim, sim_of


async def hubs_search(request: Request) -> Response:
    sim = sim_of(request)
    query = (request.query_params.get("query") or "").strip()
    if not query:
        raise SimError(400, "query is required")
    try:
        limit = int(request.query_params.get("limit") or 3)
        section_id = request.query_params.get("sectionId")
        section_key = int(section_id) if section_id else None
    except ValueError:
        raise SimError(400, "limit and sectionId must be numbers") from None
    needle = query.lower()
    hubs: list[Node] = []
    with sim._lock:
        if section_key is not None:
            sim.section(section_key)
        candidates: list[Item | Collection] = [
            i for i in sim.items.values() if i.type != "season"
        ] + list(sim.collections.values())
        for hub_type, hub_title in (("movie", "Movies"), ("show", "Shows"), ("episode", "Episodes"),
                                    ("collection", "Collections")):
            matches = [c for c in candidates
                       if (c.type if isinstance(c, Item) else "collection") == hub_type
                       and (section_key is None or c.section_key == section_key)
                       and needle in c.title.lower()]
            if not matches:
                continue
            matches.sort(key=lambda c: (not c.title.lower().startswith(needle), title_sort(c.title).lower()))
            shown = matches[:limit]
            more = len(matches) > len(shown)
            nodes = [collection_node(sim, c) if isinstance(c, Collection) else item_node(sim, c, guids=False)
                     for c in shown]
            all_keys = ",".join(str(c.rating_key) for c in matches)
            hubs.append(Node("Hub", {
                "title": hub_title, "type": hub_type, "hubIdentifier": hub_type,
                "context": f"hub.{hub_type}", "size": len(shown), "more": more, "style": "shelf",
                "hubKey": f"/library/metadata/{all_keys}",
                "key": f"/library/metadata/{all_keys}" if more else None,
            }, nodes, json_key="Hub"))
    return respond(request, {}, hubs)


async def thumb(request: Request) -> Response:
    sim = sim_of(request)
    key = request.path_params["key"]
    if key not in sim.items and key not in sim.collections:
        raise SimError(404, "no such item")
    kind = request.path_params.get("kind", "thumb")
    if kind not in ("thumb", "art", "banner", "clearLogo"):
        raise SimError(404, f"no {kind} image")
    if kind == "thumb" and "kind" in request.path_params:
        local = await _local_thumb(sim, key)
        if local is not None:
            return local
    width, height = (320, 180) if kind == "art" else (200, 300)
    return png_response(width, height, f"{key}")


async def resource_image(request: Request) -> Response:
    return png_response(64, 64, request.path_params["name"])


async def transcode(request: Request) -> Response:
    sim = sim_of(request)
    url = request.query_params.get("url")
    if not url:
        raise SimError(400, "url is required")
    try:
        width = int(request.query_params.get("width") or 200)
        height = int(request.query_params.get("height") or 300)
    except ValueError:
        raise SimError(400, "width and height must be numbers") from None
    path = urlsplit(url).path + "/"
    match = re.search(r"/library/(?:metadata|collections)/(\d+)/", path)
    seed = match.group(1) if match else url
    if match and int(seed) not in sim.items and int(seed) not in sim.collections:
        raise SimError(404, "no such item")
    if match and re.search(r"/library/metadata/\d+/thumb/", path):
        # No image library here: a thumbnail that came from a file is served as it is, unscaled.
        local = await _local_thumb(sim, int(seed))
        if local is not None:
            return local
    return png_response(width, height, seed)


async def _local_thumb(sim: PlexSim, rating_key: int) -> Response | None:
    """The image a scan found beside the item's file, with its content type (``None`` without one)."""
    with sim._lock:
        item = sim.items.get(rating_key)
        path = item.thumb_file if item is not None else None
    if path is None:
        return None
    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError:
        return None  # removed since the scan: Plex would still have its copy; a placeholder will do
    return Response(data, media_type=THUMB_EXTENSIONS.get(Path(path).suffix.lower(), "application/octet-stream"),
                    headers={"Cache-Control": "max-age=3600"})
