"""Simulator of Uptime Kuma 1.23.x and 2.x: ``/metrics``, public status pages, push
monitors and the Socket.IO API, in one ASGI app.

It follows ``shared/docs/integrations.md`` §4 (see §4.8 for what it must do and §4.9 for
the quirks it reproduces). The version is switchable at run time (``"1.23"`` or
``"2.x"``); every version difference listed there is simulated:

=====================================  ===================================  ==================================
                                       1.23 (reports 1.23.16)               2.x (reports 2.5.3)
=====================================  ===================================  ==================================
``/metrics`` labels                    name, type, url, hostname, port      + ``monitor_id``, one per tag name,
                                                                            + ``monitor_uptime_ratio`` and
                                                                            ``monitor_response_time_seconds``
``/api/status-page/{slug}``            ``incident`` (object or null)        ``incidents`` (array), more config
unknown slug                           hangs (``unknown_slug_hang_seconds``)  404 ``{"status":"fail",...}``
``/api/status-page/heartbeat/{slug}``  50 beats per monitor                 100 beats per monitor
``/api/push/{token}``                  GET only                             any method
socket ``login`` failure               "Incorrect username or password."    "authIncorrectCreds" + msgi18n
events before the first ``info``       handled                              dropped (no ack), §4.9
after login                            + ``importantHeartbeatList``         + ``remoteBrowserList``,
                                                                            ``monitorTypeList``, ``uptime "1y"``
=====================================  ===================================  ==================================

Public API:
    ``KumaSim``: the state (monitors, heartbeat rings, API keys, user, status page,
        maintenance, faults) with a thread-safe Python API for in-process tests.
    ``create_kuma_app(sim)``: the ASGI app (Starlette routes + python-socketio at ``/socket.io/``).
    ``KumaStack`` / ``serve_kuma_in_thread(host, port, **opts)``: serving with uvicorn;
        the latter returns a ``KumaHandle`` with ``.sim``, ``.url`` and ``.stop()``.

Modules: ``model`` (codes, fixed answers, formats, rows), ``state`` (``KumaState``: options,
clock, overrides, beats, statistics, cache), ``monitors`` (checks and flips), ``auth``
(API keys, logins), ``payloads`` (socket events), ``status_pages``, ``metrics``, ``sim``
(``KumaSim``), ``hub`` (Socket.IO connections), ``sockets`` (socket event handlers),
``routes`` (HTTP handlers), ``app`` (``create_kuma_app``), ``serving``.

Fixtures (``fixtures.py``, all deterministic):
    Monitors 1 Plex (http), 2 Overseerr (https, TLS cert 42 days), 3 NAS (ping),
    4 VPN (port 443), 5 Home Assistant (http, **paused**), 6 Downloader (push, token
    ``medianest-downloader``, **never beat**). Monitors 1-5 start with 100 past beats
    (60 s apart, newest a few seconds old); all of them are UP now. Overseerr was DOWN
    for four beats ~40 min ago and NAS PENDING once.
    User ``admin`` / ``kuma-sim-password``; ``KumaSim.token`` is its login JWT
    (HS256 over ``{"username":"admin","h":…}``, fixed secret, so always the same).
    API key ``uk1_MediaNestSimulatorKey0123456789abcdefghi`` (id 1, active) and
    ``uk2_InactiveSimulatorKey0123456789abcdefghij`` (id 2, inactive: rejected).
    Status page ``household`` (published, one public group "Services" with every active
    monitor: 1, 2, 3, 4, 6), with a pinned incident. One scheduled maintenance (id 1).

Test hooks (JSON; errors are ``{"error": …}`` with 400/404):
    ``POST /__sim__/monitors/{id}/status`` ``{"status": "down"|"up"|"pending"|"maintenance",
    "ping": optional ms, "msg": optional}``: adds an important beat now, pushes
    ``heartbeat`` + stats to logged-in sockets and clears the status-page caches.
    ``POST /__sim__/monitors/{id}/pause`` and ``/resume`` (resume beats at once).
    ``POST /__sim__/monitors/{id}/rename`` ``{"name": "NAS"}`` (names need not be unique).
    ``POST /__sim__/advance`` ``{"seconds": 120}``: move the clock; active monitors beat
    once per elapsed interval (at most 100 beats each).
    ``POST /__sim__/version`` ``{"version": "1.23"|"2.x"}``.
    ``POST /__sim__/config`` ``{"unknown_slug_hang_seconds", "page_cache_seconds",
    "heartbeat_cache_seconds", "login_rate_limit", "first_info_delay_seconds"}`` (any subset;
    the last is how long 2.x takes to send a new connection its first ``info``).
    ``POST /__sim__/api-keys`` ``{"enabled": false}``: behave as if no key was ever
    created, so ``/metrics`` takes the admin's username and password (§4.9).
    ``POST /__sim__/socket/disconnect-all``, ``POST /__sim__/socket/refuse-logins``
    ``{"refuse": true}``.
    ``POST /__sim__/override`` ``{"path": "/metrics", "body": "garbage", "status": 200,
    "content_type": "text/plain", "times": null}``: answer that path with this body
    instead (malformed-body tests); ``DELETE /__sim__/override`` removes every override.
    ``GET /__sim__/state``, ``POST /__sim__/reset``, ``GET|POST|DELETE /__sim__/faults``
    (``faults.py``; faults apply to HTTP only, never to ``/socket.io/``).

Python API (thread-safe): ``set_status``, ``rename``, ``pause``, ``resume``, ``push``, ``advance``,
``tick``, ``set_version``, ``configure``, ``set_api_keys_enabled``,
``refuse_socket_logins``, ``disconnect_all_sockets``, ``set_faults``/``clear_faults``,
``override_response``/``clear_overrides``,
``metrics_text``, ``status_page``, ``status_page_heartbeats``, ``state``, ``reset``.

Choices made where reality is UNVERIFIED (integrations.md):
    - ``null`` hostname/port labels render as ``"null"`` (prom-client prints the
      value as is); monitors that are not http keep the UI's default url ``"https://"``.
    - Uptime counts UP and MAINTENANCE beats as up, by beat count (not duration).
    - The public heartbeat list gives ``[]`` and no ``uptimeList`` entry for a monitor
      without beats; ``importantHeartbeatList`` is newest first.
    - Once the hang of an unknown 1.23 slug is over the request gets an empty 408.
    - ``active`` in ``monitorList`` is a boolean in both versions.
    - Socket calls that need a login answer ``{"ok":false,"msg":"You are not logged in."}``.
"""

from __future__ import annotations

from medianest.simulators.uptime_kuma.app import create_kuma_app
from medianest.simulators.uptime_kuma.model import (
    RING_SIZE,
    STATUS_CODES,
    STATUS_DOWN,
    STATUS_MAINTENANCE,
    STATUS_NAMES,
    STATUS_PENDING,
    STATUS_UP,
    VERSIONS,
    ApiKey,
    Heartbeat,
    Monitor,
    kuma_time,
)
from medianest.simulators.uptime_kuma.serving import KumaHandle, KumaStack, serve_kuma_in_thread
from medianest.simulators.uptime_kuma.sim import KumaSim

__all__ = [
    "RING_SIZE", "STATUS_CODES", "STATUS_DOWN", "STATUS_MAINTENANCE", "STATUS_NAMES", "STATUS_PENDING", "STATUS_UP",
    "VERSIONS", "ApiKey", "Heartbeat", "KumaHandle", "KumaSim", "KumaStack", "Monitor", "create_kuma_app",
    "kuma_time", "serve_kuma_in_thread",
]
