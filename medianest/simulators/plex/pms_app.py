"""The Plex Media Server simulator (§2.11): its route table, token check and middleware."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from medianest.simulators.faults import FaultsMiddleware
from medianest.simulators.plex.common import PMS_APP, Handler, StripTrailingSlash, plex_param, sim_errors
from medianest.simulators.plex.hooks import COMMON_HOOK_ROUTES
from medianest.simulators.plex.pms_collections import (
    collection_detail,
    collection_items,
    collection_remove_item,
    create_collection,
)
from medianest.simulators.plex.pms_library import (
    empty_list,
    empty_trash,
    identity,
    library_root,
    metadata,
    metadata_children,
    recently_added,
    refresh,
    root,
    section_all,
    section_collections,
    section_detail,
    section_recently_added,
    sections,
)
from medianest.simulators.plex.pms_search import hubs_search, resource_image, thumb, transcode
from medianest.simulators.plex.state import PlexSim


class _PmsAuth:
    """Reject requests without a valid ``X-Plex-Token`` (except ``/identity``)."""

    def __init__(self, app: Any, sim: PlexSim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if path != "/identity" and not path.startswith("/__sim__"):
                request = Request(scope)
                if not self.sim.pms_token_valid(plex_param(request, "X-Plex-Token")):
                    response = PlainTextResponse("401 Unauthorized", status_code=401)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _pms_errors(handler: Handler) -> Handler:
    return sim_errors(handler, lambda _req, exc: PlainTextResponse(exc.message, status_code=exc.status))


def create_pms_app(sim: PlexSim) -> Starlette:
    """Build the Plex Media Server simulator (§2.11) on ``sim``.

    Args:
        sim: The shared state.

    Returns:
        The Starlette app (fault injection, token checks and trailing-slash tolerance included).
    """
    routes = [
        Route("/", _pms_errors(root), methods=["GET"]),
        Route("/identity", _pms_errors(identity), methods=["GET"]),
        Route("/library", _pms_errors(library_root), methods=["GET"]),
        Route("/library/sections", _pms_errors(sections), methods=["GET"]),
        Route("/library/sections/all/refresh", _pms_errors(refresh), methods=["GET", "POST", "DELETE"]),
        Route("/library/sections/{key:int}", _pms_errors(section_detail), methods=["GET"]),
        Route("/library/sections/{key:int}/all", _pms_errors(section_all), methods=["GET"]),
        Route("/library/sections/{key:int}/recentlyAdded", _pms_errors(section_recently_added), methods=["GET"]),
        Route("/library/sections/{key:int}/refresh", _pms_errors(refresh), methods=["GET", "POST", "DELETE"]),
        Route("/library/sections/{key:int}/collections", _pms_errors(section_collections), methods=["GET"]),
        Route("/library/sections/{key:int}/emptyTrash", _pms_errors(empty_trash), methods=["PUT"]),
        Route("/library/sections/{key:int}/composite/{ts}", _pms_errors(resource_image), methods=["GET"]),
        Route("/library/recentlyAdded", _pms_errors(recently_added), methods=["GET"]),
        Route("/library/onDeck", _pms_errors(empty_list), methods=["GET"]),
        Route("/status/sessions", _pms_errors(empty_list), methods=["GET"]),
        Route("/library/metadata/{key:int}/children", _pms_errors(metadata_children), methods=["GET"]),
        Route("/library/metadata/{key:int}/allLeaves", _pms_errors(metadata_children), methods=["GET"]),
        Route("/library/metadata/{key:int}/{kind:str}/{ts}", _pms_errors(thumb), methods=["GET"]),
        Route("/library/metadata/{keys}", _pms_errors(metadata), methods=["GET", "DELETE"]),
        Route("/library/collections", _pms_errors(create_collection), methods=["POST"]),
        Route("/library/collections/{key:int}", _pms_errors(collection_detail), methods=["GET", "DELETE"]),
        Route("/library/collections/{key:int}/children", _pms_errors(collection_items), methods=["GET"]),
        Route("/library/collections/{key:int}/items", _pms_errors(collection_items), methods=["GET", "PUT"]),
        Route("/library/collections/{key:int}/items/{item:int}", _pms_errors(collection_remove_item),
              methods=["DELETE", "PUT"]),
        Route("/library/collections/{key:int}/composite/{ts}", _pms_errors(thumb), methods=["GET"]),
        Route("/hubs/search", _pms_errors(hubs_search), methods=["GET"]),
        Route("/photo/:/transcode", _pms_errors(transcode), methods=["GET"]),
        Route("/:/resources/{name}", _pms_errors(resource_image), methods=["GET"]),
        *COMMON_HOOK_ROUTES,
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(FaultsMiddleware, injector=sim.faults[PMS_APP]),
        Middleware(StripTrailingSlash),
        Middleware(_PmsAuth, sim=sim),
    ])
    app.state.sim = sim
    return app
