"""The PMS simulator's collection routes: create, show, list, add to, remove from and delete
regular collections."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from medianest.simulators.plex.common import SimError, truthy
from medianest.simulators.plex.pms_render import (
    collection_node,
    item_attrs,
    item_section_attrs,
    paged,
    render_entries,
    respond,
)
from medianest.simulators.plex.state import sim_of


async def create_collection(request: Request) -> Response:
    sim = sim_of(request)
    params = request.query_params
    try:
        section_key = int(params.get("sectionId") or "")
        type_number = int(params["type"]) if params.get("type") else None
    except ValueError:
        raise SimError(400, "sectionId and type must be numbers") from None
    collection = sim.create_collection(section_key=section_key, title=params.get("title") or "",
                                       uri=params.get("uri"), type_number=type_number,
                                       smart=truthy(params.get("smart")))
    with sim._lock:
        node = collection_node(sim, collection)
    return respond(request, {"allowSync": False, **item_section_attrs(sim, collection)}, [node])


async def collection_detail(request: Request) -> Response:
    sim = sim_of(request)
    rk = request.path_params["key"]
    if request.method == "DELETE":
        sim.delete_collection(rk)
        return Response(status_code=200)
    with sim._lock:
        collection = sim.collection(rk)
        node = collection_node(sim, collection)
    return respond(request, {**item_section_attrs(sim, collection)}, [node])


async def collection_items(request: Request) -> Response:
    sim = sim_of(request)
    rk = request.path_params["key"]
    if request.method == "PUT":
        collection = sim.add_to_collection(rk, request.query_params.get("uri"))
        with sim._lock:
            node = collection_node(sim, collection)
        return respond(request, {**item_section_attrs(sim, collection)}, [node])
    with sim._lock:
        collection = sim.collection(rk)
        members = [sim.items[k] for k in collection.members if k in sim.items]
        entries = [(item_attrs(sim, m), m) for m in members]
        window, page_attrs, headers = paged(request, entries)
        nodes = render_entries(sim, window, truthy(request.query_params.get("includeGuids")))
    return respond(request, {**item_section_attrs(sim, collection), **page_attrs, "key": str(rk),
                             "title1": collection.title, "title2": "", "ratingKey": rk}, nodes, headers)


async def collection_remove_item(request: Request) -> Response:
    sim = sim_of(request)
    collection = sim.remove_from_collection(request.path_params["key"], request.path_params["item"])
    with sim._lock:
        node = collection_node(sim, collection)
    return respond(request, {**item_section_attrs(sim, collection)}, [node])
