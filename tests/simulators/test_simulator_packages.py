"""The shape of the Overseerr and Uptime Kuma simulator packages: small modules, and every
HTTP route and Socket.IO event served by a module-level function (not a closure built per app)."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from medianest.simulators import overseerr, uptime_kuma
from medianest.simulators.overseerr import OverseerrSim, create_overseerr_app
from medianest.simulators.uptime_kuma import KumaSim, create_kuma_app

MAX_LINES = 500


def _module_level(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function ``func`` serves through (past ``functools.wraps`` wrappers and partials)."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.unwrap(func)


def _assert_module_level(func: Callable[..., Any]) -> None:
    target = _module_level(func)
    assert "<locals>" not in target.__qualname__, target.__qualname__
    assert getattr(importlib.import_module(target.__module__), target.__name__) is target


@pytest.mark.parametrize("package", [overseerr, uptime_kuma], ids=lambda p: p.__name__.rsplit(".", 1)[-1])
def test_every_module_is_under_500_lines(package: Any) -> None:
    folder = Path(package.__file__).parent
    names = [info.name for info in pkgutil.iter_modules([str(folder)])]
    assert len(names) > 3  # a package split along its seams, not one module renamed
    for path in folder.glob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines < MAX_LINES, f"{path.name}: {lines} lines"


def test_overseerr_routes_are_module_level_functions() -> None:
    sim = OverseerrSim()
    try:
        app = create_overseerr_app(sim)
        routes = [r for r in app.routes if isinstance(r, Route)]
        assert len(routes) >= 20
        for route in routes:
            _assert_module_level(route.endpoint)
        assert app.state.sim is sim
    finally:
        sim.close()


def test_kuma_routes_and_socket_events_are_module_level_functions() -> None:
    sim = KumaSim()
    app = create_kuma_app(sim)
    http_app = app.other_asgi_app
    assert isinstance(http_app, Starlette)
    routes = [r for r in http_app.routes if isinstance(r, Route)]
    assert len(routes) >= 17
    for route in routes:
        _assert_module_level(route.endpoint)
    events = app.engineio_server.handlers["/"]  # the socketio.AsyncServer the app wraps
    assert {"connect", "disconnect", "login", "loginByToken", "getMonitorList", "getMonitorBeats"} <= set(events)
    for handler in events.values():
        _assert_module_level(handler)
