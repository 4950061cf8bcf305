"""``KumaSim``: the Uptime Kuma simulator's state with every part that works on it."""

from __future__ import annotations

from medianest.simulators.uptime_kuma.auth import KumaAuth
from medianest.simulators.uptime_kuma.metrics import KumaMetrics
from medianest.simulators.uptime_kuma.monitors import KumaMonitors
from medianest.simulators.uptime_kuma.status_pages import KumaStatusPages


class KumaSim(KumaMonitors, KumaStatusPages, KumaMetrics, KumaAuth):
    """In-memory Uptime Kuma with a thread-safe Python API.

    Public methods take one re-entrant lock and never await while holding it; socket
    events they cause are handed to the app's event loop.
    """


__all__ = ["KumaSim"]
