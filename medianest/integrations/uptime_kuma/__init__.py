"""Uptime Kuma (1.23.x and 2.x): monitor states from ``/metrics``, history from a public
status page, and an optional live Socket.IO feed (see ``shared/docs/integrations.md`` §4).

``/metrics`` is the preferred source (§4.7): plain HTTP with an API key, same metric names
in both versions, every monitor. The status page gives the 24 h sparkline and uptime of the
monitors the admin published. The Socket.IO connection is an internal API that needs the
admin's password; use it only for a live view and fall back to polling ``/metrics`` when
``KumaLiveConnection.run()`` raises ``KumaLoginRefused``.

Modules: ``common`` (typed results, value normalisation), ``metrics`` (``/metrics`` parsing),
``client`` (HTTP: ``UptimeKumaClient``), ``live`` (Socket.IO: ``KumaLiveConnection``).
"""

from __future__ import annotations

from .client import UptimeKumaClient
from .common import SERVICE, STATUS_NAMES, UNKNOWN, Beat, MonitorHistory, MonitorState, parse_kuma_time, status_name
from .live import EventCallback, KumaLiveConnection, KumaLoginRefused, LiveEvent
from .metrics import PromSample, build_monitor_states, parse_prometheus

__all__ = [
    "SERVICE", "STATUS_NAMES", "UNKNOWN", "Beat", "EventCallback", "KumaLiveConnection", "KumaLoginRefused",
    "LiveEvent", "MonitorHistory", "MonitorState", "PromSample", "UptimeKumaClient", "build_monitor_states",
    "parse_kuma_time", "parse_prometheus", "status_name",
]
