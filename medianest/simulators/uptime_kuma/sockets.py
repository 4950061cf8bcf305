"""The Uptime Kuma simulator's Socket.IO events (``connect``, ``login``, ``loginByToken``,
``getMonitorList``, ``getMonitorBeats`` …), registered by ``register_socket_handlers``.

Handlers are module-level functions taking the simulator and its hub first; the
registration binds those two with ``functools.partial``.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import socketio

from medianest.simulators.uptime_kuma.hub import SocketHub
from medianest.simulators.uptime_kuma.model import _NOT_LOGGED_IN, _ROOM
from medianest.simulators.uptime_kuma.sim import KumaSim


async def connect(sim: KumaSim, hub: SocketHub, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    hub.bind_loop()
    hub.sids.add(sid)
    if sim.version == "2.x":
        hub.spawn(greet_later(sim, hub, sid, sim.first_info_delay_seconds))
        return
    hub.greeted.add(sid)  # 1.23 registers its handlers before sending anything
    await hub.sio.emit("info", sim.info_payload(logged_in=False), to=sid)


async def greet_later(sim: KumaSim, hub: SocketHub, sid: str, delay: float) -> None:
    # 2.x: ``await sendInfo(socket)`` comes first, the handlers are registered after it.
    await asyncio.sleep(delay)
    if sid in hub.sids:
        await hub.sio.emit("info", sim.info_payload(logged_in=False), to=sid)
        hub.greeted.add(sid)


async def disconnect(sim: KumaSim, hub: SocketHub, sid: str, *_: Any) -> None:
    hub.sids.discard(sid)
    hub.greeted.discard(sid)
    hub.logged_in.discard(sid)


async def after_login(sim: KumaSim, hub: SocketHub, sid: str) -> None:
    hub.logged_in.add(sid)
    await hub.sio.enter_room(sid, _ROOM)
    await hub.emit_all(sim.after_login_events(), to=sid)


async def login(sim: KumaSim, hub: SocketHub, sid: str, data: Any = None, *_: Any) -> Any:
    if sid not in hub.greeted:
        return hub.sio.not_handled  # no handler yet: no answer at all
    ack = sim.login(data)
    if ack.get("ok"):
        hub.spawn(after_login(sim, hub, sid))
    return ack


async def login_by_token(sim: KumaSim, hub: SocketHub, sid: str, token: Any = None, *_: Any) -> Any:
    if sid not in hub.greeted:
        return hub.sio.not_handled
    ack = sim.login_by_token(token)
    if ack.get("ok"):
        hub.spawn(after_login(sim, hub, sid))
    return ack


async def get_monitor_list(sim: KumaSim, hub: SocketHub, sid: str, *_: Any) -> Any:
    if sid not in hub.greeted:
        return hub.sio.not_handled
    if sid not in hub.logged_in:
        return dict(_NOT_LOGGED_IN)
    await hub.emit_all([("monitorList", sim.monitor_list_payload())], to=sid)
    return {"ok": True}


async def get_monitor_beats(sim: KumaSim, hub: SocketHub, sid: str, monitor_id: Any = None, period: Any = None,
                            *_: Any) -> Any:
    if sid not in hub.greeted:
        return hub.sio.not_handled
    if sid not in hub.logged_in:
        return dict(_NOT_LOGGED_IN)
    return sim.monitor_beats(monitor_id, period)


EVENTS = {
    "connect": connect,
    "disconnect": disconnect,
    "login": login,
    "loginByToken": login_by_token,
    "getMonitorList": get_monitor_list,
    "getMonitorBeats": get_monitor_beats,
}


def register_socket_handlers(sio: socketio.AsyncServer, sim: KumaSim, hub: SocketHub) -> None:
    """Serve ``sim`` on ``sio``: every event in ``EVENTS``; any other event gets no answer."""
    for event, handler in EVENTS.items():
        sio.on(event, partial(handler, sim, hub))
