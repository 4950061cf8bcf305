"""The Uptime Kuma simulator's HTTP side: ``/metrics``, the public status-page API, push
monitors and the ``/__sim__`` test hooks.

Handlers are module-level functions; the simulator they serve is ``request.app.state.sim``
(and its Socket.IO hub ``request.app.state.hub``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from medianest.simulators.plex import SimError, _json_body
from medianest.simulators.uptime_kuma.hub import SocketHub
from medianest.simulators.uptime_kuma.sim import KumaSim

Handler = Callable[[Request], Awaitable[Response]]


def _hook(handler: Handler) -> Handler:
    """A test hook: errors become ``{"error": …}``."""
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return wrapped


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class OverridesMiddleware:
    """Serve ``KumaSim.override_response`` bodies in place of the real handlers."""

    def __init__(self, app: Any, sim: KumaSim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            override = self.sim.take_override(scope.get("path", ""))
            if override is not None:
                response = Response(override["body"], status_code=override["status"],
                                    media_type=override["content_type"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _sim(request: Request) -> KumaSim:
    sim: KumaSim = request.app.state.sim
    return sim


def _hub(request: Request) -> SocketHub:
    hub: SocketHub = request.app.state.hub
    return hub


async def metrics(request: Request) -> Response:
    sim = _sim(request)
    credentials = _basic_credentials(request)
    if credentials is None or not sim.metrics_auth_ok(*credentials):
        return PlainTextResponse("", status_code=401,
                                 headers={"WWW-Authenticate": 'Basic realm="Authorization Required"'})
    return PlainTextResponse(sim.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def status_page(request: Request) -> Response:
    sim = _sim(request)
    slug = request.path_params["slug"]
    payload = sim.status_page(slug)
    if payload is not None:
        return JSONResponse(payload)
    if sim.version == "2.x":
        return JSONResponse({"status": "fail", "msg": "Status Page Not Found"}, status_code=404)
    # 1.23 returns from the handler without answering: the request hangs.
    deadline = time.monotonic() + sim.unknown_slug_hang_seconds
    while time.monotonic() < deadline and not sim._stopping.is_set():
        if await request.is_disconnected():
            return Response(status_code=499)  # nobody is listening any more
        await asyncio.sleep(0.05)
    return Response(status_code=408)


async def status_page_heartbeat(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse(sim.status_page_heartbeats(request.path_params["slug"]))


async def push(request: Request) -> Response:
    sim = _sim(request)
    token = request.path_params["token"]
    if sim.version == "1.23" and request.method != "GET":
        # Express answers methods without a route with its default 404 page.
        return HTMLResponse(f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                            f"<title>Error</title>\n</head>\n<body>\n<pre>Cannot {request.method} "
                            f"/api/push/{token}</pre>\n</body>\n</html>\n", status_code=404)
    query = request.query_params
    try:
        sim.push(token, status=query.get("status"), msg=query.get("msg"), ping=query.get("ping"))
    except SimError as exc:
        return JSONResponse({"ok": False, "msg": exc.message}, status_code=404)
    return JSONResponse({"ok": True})


async def hook_status(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    payload = sim.set_status(request.path_params["monitor_id"], str(data.get("status", "")),
                             ping=data.get("ping"), msg=data.get("msg"))
    return JSONResponse({"heartbeat": payload})


async def hook_rename(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    sim.rename(request.path_params["monitor_id"], data.get("name"))
    return JSONResponse({"ok": True})


async def hook_pause(request: Request) -> Response:
    sim = _sim(request)
    sim.pause(request.path_params["monitor_id"])
    return JSONResponse({"ok": True})


async def hook_resume(request: Request) -> Response:
    sim = _sim(request)
    sim.resume(request.path_params["monitor_id"])
    return JSONResponse({"ok": True})


async def hook_version(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    sim.set_version(str(data.get("version", "")))
    return JSONResponse({"version": sim.version})


async def hook_advance(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    beats = sim.advance(data.get("seconds", 0))
    return JSONResponse({"beats": beats})


async def hook_config(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse(sim.configure(**await _json_body(request)))


async def hook_api_keys(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    sim.set_api_keys_enabled(bool(data.get("enabled", True)))
    return JSONResponse({"enabled": sim.api_keys_enabled})


async def hook_disconnect_all(request: Request) -> Response:
    hub = _hub(request)
    return JSONResponse({"disconnected": await hub.disconnect_all()})


async def hook_refuse_logins(request: Request) -> Response:
    sim = _sim(request)
    data = await _json_body(request)
    sim.refuse_socket_logins(bool(data.get("refuse", True)))
    return JSONResponse({"refuse": sim.refuse_logins})


async def hook_override(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "DELETE":
        sim.clear_overrides()
        return JSONResponse({"overrides": []})
    data = await _json_body(request)
    unknown = set(data) - {"path", "body", "status", "content_type", "times"}
    if unknown:
        raise SimError(400, f"unknown keys: {sorted(unknown)}")
    sim.override_response(str(data.get("path", "")), str(data.get("body", "")),
                          status=data.get("status", 200), content_type=str(data.get("content_type", "text/plain")),
                          times=data.get("times"))
    return JSONResponse({"overrides": sim.state()["overrides"]})


async def hook_state(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse(sim.state())


async def hook_reset(request: Request) -> Response:
    sim = _sim(request)
    sim.reset()
    return JSONResponse({"reset": True, "state": sim.state()})


ROUTES = [
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/status-page/heartbeat/{slug}", status_page_heartbeat, methods=["GET"]),
    Route("/api/status-page/{slug}", status_page, methods=["GET"]),
    Route("/api/push/{token}", push, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    Route("/__sim__/monitors/{monitor_id:int}/status", _hook(hook_status), methods=["POST"]),
    Route("/__sim__/monitors/{monitor_id:int}/rename", _hook(hook_rename), methods=["POST"]),
    Route("/__sim__/monitors/{monitor_id:int}/pause", _hook(hook_pause), methods=["POST"]),
    Route("/__sim__/monitors/{monitor_id:int}/resume", _hook(hook_resume), methods=["POST"]),
    Route("/__sim__/version", _hook(hook_version), methods=["POST"]),
    Route("/__sim__/advance", _hook(hook_advance), methods=["POST"]),
    Route("/__sim__/config", _hook(hook_config), methods=["POST"]),
    Route("/__sim__/api-keys", _hook(hook_api_keys), methods=["POST"]),
    Route("/__sim__/socket/disconnect-all", _hook(hook_disconnect_all), methods=["POST"]),
    Route("/__sim__/socket/refuse-logins", _hook(hook_refuse_logins), methods=["POST"]),
    Route("/__sim__/override", _hook(hook_override), methods=["POST", "DELETE"]),
    Route("/__sim__/state", hook_state, methods=["GET"]),
    Route("/__sim__/reset", hook_reset, methods=["POST"]),
]
