"""The PMS simulator's server and library routes: the root and identity, sections and their
listings, recently added, refreshes and metadata."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from medianest.simulators.plex.common import SimError, truthy
from medianest.simulators.plex.pms_collections import collection_items
from medianest.simulators.plex.pms_query import (
    apply_filters,
    apply_sort,
    meta_node,
    parse_keys,
    section_entries,
    type_param,
)
from medianest.simulators.plex.pms_render import (
    Node,
    collection_node,
    item_attrs,
    item_node,
    item_section_attrs,
    paged,
    render_entries,
    respond,
    section_attrs,
    section_node,
)
from medianest.simulators.plex.state import sim_of

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


async def root(request: Request) -> Response:
    sim = sim_of(request)
    owner = sim.owner
    attrs = {
        "allowCameraUpload": False, "allowChannelAccess": True, "allowMediaDeletion": True,
        "allowSharing": True, "allowSync": True, "backgroundProcessing": True, "certificate": False,
        "companionProxy": True, "countryCode": "usa", "diagnostics": "", "eventStream": True,
        "friendlyName": sim.household.name, "hubSearch": True, "itemClusters": True,
        "machineIdentifier": sim.household.machine_id, "mediaProviders": True, "multiuser": True,
        "myPlex": True, "myPlexMappingState": "mapped", "myPlexSigninState": "ok",
        "myPlexSubscription": False, "myPlexUsername": owner.email, "ownerFeatures": "",
        "platform": "Linux", "platformVersion": "6.1.0", "pluginHost": True, "readOnlyLibraries": 0,
        "streamingBrainVersion": 2, "sync": True, "transcoderActiveVideoSessions": 0,
        "transcoderAudio": True, "transcoderLyrics": True, "transcoderPhoto": True,
        "transcoderSubtitles": True, "transcoderVideo": True,
        "transcoderVideoBitrates": "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000",
        "transcoderVideoQualities": "0,1,2,3,4,5,6,7,8,9,10,11,12",
        "transcoderVideoResolutions": "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080",
        "updatedAt": int(sim.now()), "updater": True, "version": sim.household.product_version,
        "voiceSearch": True,
    }
    dirs = [Node("Directory", {"count": 1, "key": k, "title": k}) for k in
            ("activities", "butler", "hubs", "library", "playlists", "search", "servers", "system")]
    return respond(request, attrs, dirs)


async def identity(request: Request) -> Response:
    sim = sim_of(request)
    return respond(request, {"claimed": True, "machineIdentifier": sim.household.machine_id,
                             "version": sim.household.product_version})


async def library_root(request: Request) -> Response:
    sim = sim_of(request)
    dirs = [Node("Directory", {"key": k, "title": t}) for k, t in
            (("sections", "Library Sections"), ("recentlyAdded", "Recently Added Content"),
             ("onDeck", "On Deck Content"))]
    return respond(request, {"allowSync": False, "art": "/:/resources/library-art.png",
                             "content": "", "identifier": "com.plexapp.plugins.library",
                             "mediaTagPrefix": "/system/bundle/media/flags/",
                             "mediaTagVersion": int(sim.now()), "title1": "Plex Library", "title2": ""}, dirs)


async def sections(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        nodes = [section_node(s) for s in sorted(sim.sections.values(), key=lambda s: s.key)]
    return respond(request, {"allowSync": False, "title1": "Plex Library"}, nodes)


async def section_detail(request: Request) -> Response:
    sim = sim_of(request)
    section = sim.section(request.path_params["key"])
    dirs = [Node("Directory", {"key": k, "title": t}) for k, t in
            (("all", f"All {section.title}"), ("recentlyAdded", "Recently Added"),
             ("collections", "Collections"), ("folder", "By Folder"))]
    return respond(request, {"allowSync": False, "art": f"/:/resources/{section.type}-fanart.jpg",
                             "content": "secondary", "identifier": "com.plexapp.plugins.library",
                             **section_attrs(section), "title1": section.title,
                             "viewGroup": "secondary"}, dirs)


async def section_all(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        section = sim.section(request.path_params["key"])
        entries = section_entries(sim, section, type_param(request))
        entries = apply_sort(request, apply_filters(sim, request, entries))
        limit = request.query_params.get("limit")
        if limit and limit.isdigit():
            entries = entries[: int(limit)]
        window, page_attrs, headers = paged(request, entries)
        nodes = render_entries(sim, window, truthy(request.query_params.get("includeGuids")))
        meta = meta_node(section, False) if truthy(request.query_params.get("includeMeta")) else None
    return respond(request, {"allowSync": True, "art": f"/:/resources/{section.type}-fanart.jpg",
                             "identifier": "com.plexapp.plugins.library", **section_attrs(section),
                             **page_attrs, "title1": section.title, "title2": "All",
                             "viewGroup": section.type}, nodes, headers, meta)


async def section_recently_added(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        section = sim.section(request.path_params["key"])
        leaf = "movie" if section.type == "movie" else "episode"
        entries = [(item_attrs(sim, i), i) for i in sim.items.values()
                   if i.section_key == section.key and i.type == leaf]
        entries.sort(key=lambda e: (e[1].added_at, e[1].rating_key), reverse=True)
        window, page_attrs, headers = paged(request, entries, default_size=50)
        nodes = render_entries(sim, window, True)
    return respond(request, {**section_attrs(section), **page_attrs, "title1": section.title,
                             "title2": "Recently Added"}, nodes, headers)


async def recently_added(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        entries = [(item_attrs(sim, i), i) for i in sim.items.values() if i.type in ("movie", "episode")]
        entries.sort(key=lambda e: (e[1].added_at, e[1].rating_key), reverse=True)
        window, page_attrs, headers = paged(request, entries, default_size=50)
        nodes = render_entries(sim, window, truthy(request.query_params.get("includeGuids")))
    return respond(request, {"allowSync": False, "identifier": "com.plexapp.plugins.library",
                             **page_attrs, "mixedParents": True, "title1": "Recently Added"}, nodes, headers)


async def empty_list(request: Request) -> Response:
    return respond(request, {"offset": 0, "totalSize": 0}, [],
                   {"X-Plex-Container-Start": "0", "X-Plex-Container-Total-Size": "0"})


async def refresh(request: Request) -> Response:
    sim = sim_of(request)
    key = request.path_params.get("key")
    targets = [key] if key is not None else list(sim.sections)
    for target in targets:
        sim.section(target)
    if request.method == "DELETE":
        for target in targets:
            sim.cancel_refresh(target)
        return Response(status_code=200)
    path = request.query_params.get("path")
    for target in targets:
        sim.start_refresh(target, path)
    logger.info("refresh requested for sections %s (path=%s)", targets, path)
    return Response(status_code=200)


async def empty_trash(request: Request) -> Response:
    # Scans already empty the trash (Plex's default "Empty trash automatically after every scan").
    sim_of(request).section(request.path_params["key"])
    return Response(status_code=200)


async def section_collections(request: Request) -> Response:
    sim = sim_of(request)
    with sim._lock:
        section = sim.section(request.path_params["key"])
        entries = [(collection_node(sim, c).attrs, c) for c in sim.collections.values()
                   if c.section_key == section.key]
        entries = apply_sort(request, entries)
        window, page_attrs, headers = paged(request, entries)
        nodes = [collection_node(sim, c) for _, c in window]
        meta = meta_node(section, True) if truthy(request.query_params.get("includeMeta")) else None
    return respond(request, {**section_attrs(section), **page_attrs, "title1": section.title,
                             "title2": "Collections"}, nodes, headers, meta)


async def metadata(request: Request) -> Response:
    sim = sim_of(request)
    if request.method == "DELETE":
        keys = parse_keys(request.path_params["keys"])
        if len(keys) == 1 and keys[0] not in sim.collections and keys[0] not in sim.items:
            raise SimError(404, "no such item")
        if len(keys) != 1 or keys[0] not in sim.collections:
            raise SimError(400, "the simulator only deletes collections")
        sim.delete_collection(keys[0])
        return Response(status_code=200)
    with sim._lock:
        nodes = []
        with_children = truthy(request.query_params.get("includeChildren"))
        for key in parse_keys(request.path_params["keys"]):
            if key in sim.items:
                nodes.append(item_node(sim, sim.items[key], guids=True, with_children=with_children))
            elif key in sim.collections:
                nodes.append(collection_node(sim, sim.collections[key]))
        if not nodes:
            raise SimError(404, "no such item")
        first = nodes[0].attrs
    return respond(request, {"allowSync": True, "identifier": "com.plexapp.plugins.library",
                             "librarySectionID": first.get("librarySectionID"),
                             "librarySectionTitle": first.get("librarySectionTitle"),
                             "mediaTagPrefix": "/system/bundle/media/flags/"}, nodes)


async def metadata_children(request: Request) -> Response:
    sim = sim_of(request)
    key = request.path_params["key"]
    with sim._lock:
        if key in sim.collections:
            return await collection_items(request)
        if key not in sim.items:
            raise SimError(404, "no such item")
        item = sim.items[key]
        leaves_only = request.url.path.endswith("/allLeaves")
        kids = sim.leaves(item) if leaves_only else sim.children(key)
        entries = [(item_attrs(sim, k), k) for k in kids]
        window, page_attrs, headers = paged(request, entries)
        nodes = render_entries(sim, window, truthy(request.query_params.get("includeGuids")))
        attrs: dict[str, Any] = {**item_section_attrs(sim, item), **page_attrs, "key": str(item.rating_key),
                                 "title1": item.title, "title2": "", "parentTitle": item.title,
                                 "viewGroup": "season" if item.type == "show" else "episode"}
    return respond(request, attrs, nodes, headers)
