"""The Overseerr simulator's HTTP side: API routes under ``/api/v1``, test hooks and the TMDB
image stand-in under ``/__sim__``, assembled by ``create_overseerr_app``.

Handlers are module-level functions; the simulator they serve is ``request.app.state.sim``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultsMiddleware
from medianest.simulators.overseerr.model import (
    _IMAGE_FILE,
    MANAGE_REQUESTS,
    NO_PERMISSION,
    RESERVED,
    TMDB_IMAGE_PATH,
    ApiError,
    _has,
    _tmdb_size,
    _validation,
)
from medianest.simulators.overseerr.sim import OverseerrSim
from medianest.simulators.plex import SimError, _json_body, _png_response

Handler = Callable[[Request], Awaitable[Response]]
#: An API handler: the request and the acting user (``None`` on routes without auth).
ApiHandler = Callable[[Request, dict[str, Any] | None], Awaitable[Response]]


def _sim(request: Request) -> OverseerrSim:
    sim: OverseerrSim = request.app.state.sim
    return sim


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a request; otherwise the validator's 400 shape (§3.2)."""
    return await _json_body(request, lambda message: _validation(".body", message))


def _raw_query_value(request: Request, name: str) -> str | None:
    """The undecoded value of ``name`` in the query string, as the validator sees it."""
    for part in request.scope.get("query_string", b"").decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if sep and unquote(key) == name:
            return value
    return None


def _api(handler: ApiHandler, *, auth: bool = True) -> Handler:
    """An API route: authenticates (unless ``auth`` is off) and renders ``ApiError`` as Overseerr does."""
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            acting = _sim(request).authenticate(request.headers) if auth else None
            return await handler(request, acting)
        except ApiError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    return wrapped


def _hook(handler: Handler) -> Handler:
    """A test hook: errors become ``{"error": …}``."""
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return JSONResponse({"error": exc.body.get("message", "error")}, status_code=exc.status)
        except SimError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return wrapped


# ---- API -------------------------------------------------------------------------------

async def status(request: Request, _: Any) -> Response:
    flavour = _sim(request).flavour
    return JSONResponse({"version": fixtures.OVERSEERR_VERSIONS[flavour],
                         "commitTag": fixtures.OVERSEERR_COMMIT_TAGS[flavour], "updateAvailable": False,
                         "commitsBehind": 0, "restartRequired": False})


async def search(request: Request, _: Any) -> Response:
    raw = _raw_query_value(request, "query")
    if raw is None:
        raise _validation(".query.query", "should have required property 'query'")
    if any(c in RESERVED for c in raw):
        raise ApiError(400, {"message": "Parameter 'query' must be url encoded. Its value may not contain "
                                        "reserved characters.",
                             "errors": [{"path": ".query.query", "message": "Parameter 'query' must be url "
                                         "encoded. Its value may not contain reserved characters."}]})
    try:
        page = int(request.query_params.get("page", "1"))
    except ValueError as exc:
        raise _validation(".query.page", "should be number") from exc
    return JSONResponse(_sim(request).search(unquote(raw), max(page, 1)))


async def movie(request: Request, _: Any) -> Response:
    return JSONResponse(_sim(request).title_detail("movie", request.path_params["tmdb_id"]))


async def tv(request: Request, _: Any) -> Response:
    return JSONResponse(_sim(request).title_detail("tv", request.path_params["tmdb_id"]))


async def requests_(request: Request, acting: Any) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        status_code, data = sim.create_request(acting, await _body(request))
        return JSONResponse(data, status_code=status_code)
    return JSONResponse(sim.list_requests(acting, request.query_params))


async def request_count(request: Request, _: Any) -> Response:
    return JSONResponse(_sim(request).request_count())


async def one_request(request: Request, acting: Any) -> Response:
    sim = _sim(request)
    rid = request.path_params["request_id"]
    if request.method == "DELETE":
        sim.delete_request(acting, rid)
        return Response(status_code=204)
    return JSONResponse(sim.get_request(acting, rid))


async def request_action(request: Request, acting: Any) -> Response:
    sim = _sim(request)
    action = request.path_params["action"]
    if action not in ("approve", "decline"):
        raise _validation(".params.status", "should be equal to one of the allowed values: approve, decline")
    if not _has(acting["permissions"], MANAGE_REQUESTS):
        raise ApiError(403, NO_PERMISSION)
    rid = request.path_params["request_id"]
    result = sim.approve(rid, acting["id"]) if action == "approve" else sim.decline(rid, acting["id"])
    return JSONResponse(result)


async def users(request: Request, acting: Any) -> Response:
    return JSONResponse(_sim(request).list_users(acting, request.query_params))


async def me(request: Request, acting: Any) -> Response:
    """``GET /auth/me``: the caller (the API key alone acts as user 1, §3.1, §3.11)."""
    return JSONResponse(_sim(request).get_user(acting, int(acting["id"])))


async def user(request: Request, acting: Any) -> Response:
    return JSONResponse(_sim(request).get_user(acting, request.path_params["user_id"]))


async def user_main(request: Request, acting: Any) -> Response:
    sim = _sim(request)
    uid = request.path_params["user_id"]
    if request.method == "POST":
        return JSONResponse(sim.set_user_settings_main(acting, uid, await _body(request)))
    return JSONResponse(sim.user_settings_main(acting, uid))


async def user_permissions(request: Request, acting: Any) -> Response:
    sim = _sim(request)
    uid = request.path_params["user_id"]
    if request.method == "POST":
        return JSONResponse(sim.set_user_permissions(acting, uid, await _body(request)))
    return JSONResponse(sim.user_permissions(acting, uid))


async def import_users(request: Request, acting: Any) -> Response:
    body = await _body(request)
    ids = body.get("plexIds")
    if ids is not None and not isinstance(ids, list):
        raise _validation(".body.plexIds", "should be array")
    created = _sim(request).import_from_plex(acting, [str(i) for i in ids] if ids is not None else None)
    return JSONResponse(created, status_code=201)


# ---- hooks -----------------------------------------------------------------------------

async def hook_request(request: Request) -> Response:
    sim = _sim(request)
    rid, action = request.path_params["request_id"], request.path_params["action"]
    ops = {"approve": sim.approve, "decline": sim.decline, "available": sim.mark_available,
           "fail": sim.mark_failed}
    if action not in ops:
        raise SimError(404, f"unknown action {action!r}")
    return JSONResponse(ops[action](rid))


async def hook_media_available(request: Request) -> Response:
    return JSONResponse(_sim(request).mark_media_available(request.path_params["media_type"],
                                                           request.path_params["tmdb_id"]))


async def hook_flavour(request: Request) -> Response:
    sim = _sim(request)
    data = await _body(request)
    sim.set_flavour(str(data.get("flavour", "")))
    return JSONResponse({"flavour": sim.flavour})


async def hook_config(request: Request) -> Response:
    return JSONResponse(_sim(request).configure(**await _body(request)))


async def hook_state(request: Request) -> Response:
    return JSONResponse(_sim(request).state())


async def hook_reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"reset": True})


async def tmdb_image(request: Request) -> Response:
    size = _tmdb_size(request.path_params["size"])
    name = request.path_params["file"]
    if size is None or not _IMAGE_FILE.fullmatch(name):
        return PlainTextResponse("Not Found", status_code=404)
    return _png_response(size[0], size[1], name)


ROUTES = [
    Route("/api/v1/status", _api(status, auth=False), methods=["GET"]),
    Route("/api/v1/auth/me", _api(me), methods=["GET"]),
    Route("/api/v1/search", _api(search), methods=["GET"]),
    Route("/api/v1/movie/{tmdb_id:int}", _api(movie), methods=["GET"]),
    Route("/api/v1/tv/{tmdb_id:int}", _api(tv), methods=["GET"]),
    Route("/api/v1/request", _api(requests_), methods=["GET", "POST"]),
    Route("/api/v1/request/count", _api(request_count), methods=["GET"]),
    Route("/api/v1/request/{request_id:int}", _api(one_request), methods=["GET", "DELETE"]),
    Route("/api/v1/request/{request_id:int}/{action}", _api(request_action), methods=["POST"]),
    Route("/api/v1/user", _api(users), methods=["GET"]),
    Route("/api/v1/user/import-from-plex", _api(import_users), methods=["POST"]),
    Route("/api/v1/user/{user_id:int}", _api(user), methods=["GET"]),
    Route("/api/v1/user/{user_id:int}/settings/main", _api(user_main), methods=["GET", "POST"]),
    Route("/api/v1/user/{user_id:int}/settings/permissions", _api(user_permissions), methods=["GET", "POST"]),
    Route("/__sim__/requests/{request_id:int}/{action}", _hook(hook_request), methods=["POST"]),
    Route("/__sim__/media/{media_type}/{tmdb_id:int}/available", _hook(hook_media_available), methods=["POST"]),
    Route("/__sim__/flavour", _hook(hook_flavour), methods=["POST"]),
    Route("/__sim__/config", _hook(hook_config), methods=["POST"]),
    Route("/__sim__/state", hook_state, methods=["GET"]),
    Route("/__sim__/reset", hook_reset, methods=["POST"]),
    Route(TMDB_IMAGE_PATH + "/{size}/{file}", tmdb_image, methods=["GET"]),
]


def create_overseerr_app(sim: OverseerrSim) -> Any:
    """The simulator's ASGI app: API routes under ``/api/v1``, hooks under ``/__sim__``."""
    app = Starlette(routes=ROUTES, middleware=[Middleware(FaultsMiddleware, injector=sim.faults)])
    app.state.sim = sim
    return app
