"""The plex.tv simulator (§1.8): pins, the account, resources, the legacy users list, avatars,
the sign-in page and the test hooks."""

from __future__ import annotations

import html
import logging
import xml.etree.ElementTree as ET
from datetime import datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators.faults import FaultsMiddleware
from medianest.simulators.plex.auth_page import auth_page
from medianest.simulators.plex.common import (
    PLEX_TV_APP,
    Handler,
    StripTrailingSlash,
    colour,
    hook_error,
    iso,
    plex_param,
    png_response,
    sim_errors,
    truthy,
    wants_json,
    xml_value,
)
from medianest.simulators.plex.hooks import (
    COMMON_HOOK_ROUTES,
    hook_accounts,
    hook_add_share,
    hook_approve,
    hook_approve_by_code,
    hook_auto_approve,
    hook_deny_by_code,
    hook_pin_by_code,
    hook_remove_share,
)
from medianest.simulators.plex.state import PlexSim, sim_of
from medianest.simulators.plex.tv_payloads import (
    account_payload,
    authenticated,
    pin_payload,
    resources_for,
    strict_reject,
    tv_error,
    tv_response,
    tv_xml_element,
    unauthorized,
    xml_response,
)

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


async def create_pin(request: Request) -> Response:
    sim = sim_of(request)
    if (rejected := strict_reject(sim, request)) is not None:
        return rejected
    client_id = plex_param(request, "X-Plex-Client-Identifier")
    if not client_id:
        return tv_error(request, 400, 1000, "X-Plex-Client-Identifier is missing")
    pin = sim.create_pin(client_id, strong=truthy(request.query_params.get("strong")),
                         product=plex_param(request, "X-Plex-Product"))
    logger.info("pin %s created for client %s", pin.id, client_id)
    return tv_response(request, pin_payload(sim, pin), "pin", 201)


async def get_pin(request: Request) -> Response:
    sim = sim_of(request)
    if (rejected := strict_reject(sim, request)) is not None:
        return rejected
    client_id = plex_param(request, "X-Plex-Client-Identifier")
    if not client_id:
        return tv_error(request, 400, 1000, "X-Plex-Client-Identifier is missing")
    pin = sim.get_pin(request.path_params["pin_id"])
    # Another client's pin is reported as missing (our choice; UNVERIFIED).
    if pin is None or pin.client_id != client_id:
        return tv_error(request, 404, 1020, "Code not found or expired")
    return tv_response(request, pin_payload(sim, pin), "pin")


async def pin_qr(request: Request) -> Response:
    return png_response(64, 64, request.path_params["code"])


async def user(request: Request) -> Response:
    sim = sim_of(request)
    if (rejected := strict_reject(sim, request)) is not None:
        return rejected
    account = authenticated(sim, request)
    if account is None:
        return unauthorized(request)
    return tv_response(request, account_payload(sim, account), "user")


async def account_json(request: Request) -> Response:
    sim = sim_of(request)
    account = authenticated(sim, request)
    if account is None:
        return JSONResponse({"errors": [{"code": 1001, "message": "User could not be authenticated",
                                         "status": 401}]}, status_code=401)
    return JSONResponse({"user": {
        "id": account.id, "uuid": account.uuid, "email": account.email,
        "joined_at": iso(account.joined_at).replace("T", " ").replace("Z", " UTC"),
        "username": account.username, "title": account.title,
        "thumb": f"{sim.plex_tv_base_url}/users/{account.uuid}/avatar?c={account.joined_at}",
        "hasPassword": True, "authToken": account.token, "authentication_token": account.token,
        "subscription": {"active": False, "status": "Inactive", "plan": None, "features": []},
        "roles": {"roles": []}, "entitlements": [], "confirmedAt": iso(account.joined_at),
        "forumId": None, "rememberMe": False,
    }})


async def ping(request: Request) -> Response:
    sim = sim_of(request)
    if (rejected := strict_reject(sim, request)) is not None:
        return rejected
    if authenticated(sim, request) is None:
        return unauthorized(request)
    if wants_json(request):
        return JSONResponse({"pong": True})
    return xml_response(tv_xml_element("pong", True))


async def resources(request: Request) -> Response:
    sim = sim_of(request)
    if (rejected := strict_reject(sim, request)) is not None:
        return rejected
    account = authenticated(sim, request)
    if account is None:
        return unauthorized(request)
    return tv_response(request, resources_for(sim, account), "resources")


async def legacy_resources(request: Request) -> Response:
    sim = sim_of(request)
    account = authenticated(sim, request)
    if account is None:
        return PlainTextResponse("401 Unauthorized", status_code=401)
    devices = resources_for(sim, account)
    root = ET.Element("MediaContainer", {"size": str(len(devices))})
    for device in devices:
        attrs = {k: v for k, v in device.items() if k != "connections" and v is not None}
        attrs["createdAt"] = str(int(datetime.fromisoformat(device["createdAt"]).timestamp()))
        attrs["lastSeenAt"] = str(int(datetime.fromisoformat(device["lastSeenAt"]).timestamp()))
        element = ET.SubElement(root, "Device", {k: xml_value(v) for k, v in attrs.items()})
        for conn in device["connections"]:
            ET.SubElement(element, "Connection", {k: xml_value(v) for k, v in conn.items()})
    return xml_response(root)


async def users(request: Request) -> Response:
    sim = sim_of(request)
    account = authenticated(sim, request)
    if account is None:
        return xml_response(tv_xml_element("errors", [{"code": 1001, "status": 401,
                                                         "message": "User could not be authenticated"}]), 401)
    root = ET.Element("MediaContainer", {"friendlyName": "myPlex", "identifier": "com.plexapp.plugins.myplex",
                                         "machineIdentifier": sim.household.machine_id})
    count = 0
    with sim._lock:
        if account.id == sim.household.owner_id:
            n_sections = len(sim.sections)
            for share_id, (username, _token) in enumerate(sim.shares.items(), start=1):
                friend = sim.accounts.get(username)
                if friend is None:
                    continue
                count += 1
                element = ET.SubElement(root, "User", {
                    "id": str(friend.id), "title": friend.title, "username": friend.username,
                    "email": friend.email, "recommendationsPlaylistId": "",
                    "thumb": f"{sim.plex_tv_base_url}/users/{friend.uuid}/avatar?c={friend.joined_at}",
                    "protected": "0", "home": "0", "allowTuners": "0", "allowSync": "1",
                    "allowCameraUpload": "0", "allowChannels": "0", "allowSubtitleAdmin": "0",
                    "filterAll": "", "filterMovies": "", "filterMusic": "", "filterPhotos": "",
                    "filterTelevision": "", "restricted": "0",
                })
                ET.SubElement(element, "Server", {
                    "id": str(9000 + share_id), "serverId": "7001",
                    "machineIdentifier": sim.household.machine_id, "name": sim.household.name,
                    "lastSeenAt": str(int(sim.now()) - 60), "numLibraries": str(n_sections),
                    "allLibraries": "1", "owned": "0", "pending": "0",
                })
    root.set("totalSize", str(count))
    root.set("size", str(count))
    return xml_response(root)


async def avatar(request: Request) -> Response:
    sim = sim_of(request)
    uuid = request.path_params["uuid"]
    with sim._lock:
        account = next((a for a in sim.accounts.values() if a.uuid == uuid), None)
    if account is None:
        return PlainTextResponse("not found", status_code=404)
    initial = html.escape(account.title[:1].upper() or "?")
    r, g, b = colour(account.username)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
           f'<circle cx="48" cy="48" r="48" fill="rgb({r},{g},{b})"/>'
           f'<text x="48" y="62" font-family="sans-serif" font-size="44" fill="#fff" '
           f'text-anchor="middle">{initial}</text></svg>')
    return Response(svg, media_type="image/svg+xml")


def _tv_errors(handler: Handler) -> Handler:
    return sim_errors(handler, lambda req, exc: tv_error(req, exc.status, 1000, exc.message))


def _hook_errors(handler: Handler) -> Handler:
    return sim_errors(handler, hook_error)


def create_plex_tv_app(sim: PlexSim) -> Starlette:
    """Build the plex.tv simulator (§1.8) on ``sim``.

    Args:
        sim: The shared state.

    Returns:
        The Starlette app (fault injection, CORS and trailing-slash tolerance included).
    """
    routes = [
        Route("/api/v2/pins", _tv_errors(create_pin), methods=["POST"]),
        Route("/api/v2/pins/qr/{code}", _tv_errors(pin_qr), methods=["GET"]),
        Route("/api/v2/pins/{pin_id:int}", _tv_errors(get_pin), methods=["GET"]),
        Route("/api/v2/user", _tv_errors(user), methods=["GET"]),
        Route("/users/account.json", _tv_errors(account_json), methods=["GET"]),
        Route("/api/v2/ping", _tv_errors(ping), methods=["GET"]),
        Route("/api/v2/resources", _tv_errors(resources), methods=["GET"]),
        Route("/api/resources", _tv_errors(legacy_resources), methods=["GET"]),
        Route("/api/users", _tv_errors(users), methods=["GET"]),
        Route("/users/{uuid}/avatar", _tv_errors(avatar), methods=["GET"]),
        Route("/auth", auth_page, methods=["GET"]),
        Route("/__sim__/pins/{pin_id:int}/approve", _hook_errors(hook_approve), methods=["POST"]),
        Route("/__sim__/pins/by-code/{code}", _hook_errors(hook_pin_by_code), methods=["GET"]),
        Route("/__sim__/pins/by-code/{code}/approve", _hook_errors(hook_approve_by_code), methods=["POST"]),
        Route("/__sim__/pins/by-code/{code}/deny", _hook_errors(hook_deny_by_code), methods=["POST"]),
        Route("/__sim__/accounts", _hook_errors(hook_accounts), methods=["POST"]),
        Route("/__sim__/shares", _hook_errors(hook_add_share), methods=["POST"]),
        Route("/__sim__/shares/{username}", _hook_errors(hook_remove_share), methods=["DELETE"]),
        Route("/__sim__/auto-approve", _hook_errors(hook_auto_approve), methods=["POST"]),
        *COMMON_HOOK_ROUTES,
    ]
    # Real plex.tv answers browsers from other origins (Overseerr calls it from the
    # browser), so a web client under test must not trip over CORS here either.
    app = Starlette(routes=routes, middleware=[
        Middleware(FaultsMiddleware, injector=sim.faults[PLEX_TV_APP]),
        Middleware(StripTrailingSlash),
        Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]),
    ])
    app.state.sim = sim
    return app
