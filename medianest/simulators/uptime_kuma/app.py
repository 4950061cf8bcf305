"""``create_kuma_app``: the Uptime Kuma simulator's ASGI app, HTTP routes (with faults and
response overrides) and Socket.IO at ``/socket.io/``."""

from __future__ import annotations

from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.middleware import Middleware

from medianest.simulators.faults import FaultsMiddleware
from medianest.simulators.uptime_kuma.hub import SocketHub
from medianest.simulators.uptime_kuma.routes import ROUTES, OverridesMiddleware
from medianest.simulators.uptime_kuma.sim import KumaSim
from medianest.simulators.uptime_kuma.sockets import register_socket_handlers


def create_kuma_app(sim: KumaSim) -> Any:
    """Build the simulator's ASGI app: HTTP routes with faults, and Socket.IO at ``/socket.io/``.

    Args:
        sim: The state to serve.

    Returns:
        An ASGI application.
    """
    sio = socketio.AsyncServer(async_mode="asgi", always_connect=True, logger=False, engineio_logger=False)
    hub = SocketHub(sio)
    sim._hub = hub
    register_socket_handlers(sio, sim, hub)
    http_app = Starlette(routes=ROUTES, middleware=[Middleware(FaultsMiddleware, injector=sim.faults),
                                                    Middleware(OverridesMiddleware, sim=sim)])
    http_app.state.sim = sim
    http_app.state.hub = hub
    return socketio.ASGIApp(sio, other_asgi_app=http_app, socketio_path="socket.io")
