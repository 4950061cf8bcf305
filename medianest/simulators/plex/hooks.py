"""The simulators' test hooks (``/__sim__/…``): state and reset on both apps, and on plex.tv the
hooks that play a user approving pins, plus accounts, shares and auto-approval."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medianest.simulators.plex.common import SimError, json_body
from medianest.simulators.plex.state import sim_of
from medianest.simulators.plex.tv_payloads import account_payload, pin_payload


async def hook_state(request: Request) -> Response:
    return JSONResponse(sim_of(request).state())


async def hook_reset(request: Request) -> Response:
    sim = sim_of(request)
    sim.reset()
    return JSONResponse({"reset": True, "state": sim.state()})


#: On both apps.
COMMON_HOOK_ROUTES = [
    Route("/__sim__/state", hook_state, methods=["GET"]),
    Route("/__sim__/reset", hook_reset, methods=["POST"]),
]


async def hook_approve(request: Request) -> Response:
    sim = sim_of(request)
    body = await json_body(request)
    pin = sim.approve_pin(request.path_params["pin_id"], str(body.get("user") or ""))
    return JSONResponse(pin_payload(sim, pin))


async def hook_pin_by_code(request: Request) -> Response:
    sim = sim_of(request)
    pin = sim.get_pin_by_code(request.path_params["code"])
    if pin is None:
        raise SimError(404, "code not found or expired")
    return JSONResponse(pin_payload(sim, pin))


async def hook_approve_by_code(request: Request) -> Response:
    sim = sim_of(request)
    body = await json_body(request)
    pin = sim.approve_pin_by_code(request.path_params["code"], str(body.get("user") or ""))
    return JSONResponse(pin_payload(sim, pin))


async def hook_deny_by_code(request: Request) -> Response:
    sim = sim_of(request)
    pin = sim.deny_pin_by_code(request.path_params["code"])
    return JSONResponse({"id": pin.id, "denied": True})


async def hook_accounts(request: Request) -> Response:
    sim = sim_of(request)
    body = await json_body(request)
    account = sim.create_account(str(body.get("username") or ""), body.get("email"), body.get("title"))
    return JSONResponse(account_payload(sim, account), status_code=201)


async def hook_add_share(request: Request) -> Response:
    sim = sim_of(request)
    body = await json_body(request)
    username = str(body.get("user") or "")
    token = sim.add_share(username)
    return JSONResponse({"user": username, "accessToken": token,
                         "machineIdentifier": sim.household.machine_id})


async def hook_remove_share(request: Request) -> Response:
    sim = sim_of(request)
    sim.remove_share(request.path_params["username"])
    return JSONResponse({"user": request.path_params["username"], "removed": True})


async def hook_auto_approve(request: Request) -> Response:
    sim = sim_of(request)
    body = await json_body(request)
    user_name = body.get("user")
    try:
        after = float(body.get("after_seconds") or 0)
    except (TypeError, ValueError):
        raise SimError(400, "after_seconds must be a number") from None
    sim.set_auto_approve(str(user_name) if user_name is not None else None, after)
    return JSONResponse({"user": sim.auto_approve_user, "after_seconds": sim.auto_approve_after})
