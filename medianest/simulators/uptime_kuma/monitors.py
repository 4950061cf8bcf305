"""Monitor checks in the Uptime Kuma simulator: beats (told to the sockets), the test flips
(status, rename, pause, resume), the clock moving on, and push monitors."""

from __future__ import annotations

import logging
from typing import Any

from medianest.simulators.plex import SimError
from medianest.simulators.uptime_kuma.model import (
    STATUS_CODES,
    STATUS_DOWN,
    STATUS_MAINTENANCE,
    STATUS_NAMES,
    STATUS_UP,
    Heartbeat,
    Monitor,
)
from medianest.simulators.uptime_kuma.payloads import KumaPayloads

logger = logging.getLogger(__name__)


class KumaMonitors(KumaPayloads):
    """Beats and the operations that cause them."""

    def _beat(self, monitor: Monitor, status: int, *, ping: float | None = None, msg: str | None = None,
              force_important: bool = False, when: float | None = None) -> Heartbeat:
        """Record a beat now, like a check finishing, and tell the sockets."""
        last = monitor.last
        important = force_important or last is None or last.status != status
        if ping is None:
            ping = self._ping(monitor, status)
        beat = self._append_beat(monitor, status, self.now() if when is None else when, ping=ping, msg=msg,
                                 important=important)
        if important:
            # Kuma clears its status-page cache on an important beat (§4.9).
            self._cache.clear()
        self._publish(self._beat_events(monitor, beat))
        return beat

    def set_status(self, monitor_id: int, status: str, *, ping: float | None = None,
                   msg: str | None = None) -> dict[str, Any]:
        """Flip a monitor: add an important beat now with this status.

        ``"maintenance"`` also puts the monitor under maintenance, so its later beats stay
        MAINTENANCE until it is flipped to another status.

        Args:
            monitor_id: The monitor.
            status: ``"down"``, ``"up"``, ``"pending"`` or ``"maintenance"``.
            ping: Response time in ms (default: none when down/pending, else typical).
            msg: Beat message (default: what Kuma would say).

        Returns:
            The live ``heartbeat`` payload that was pushed.

        Raises:
            SimError: 404 for an unknown monitor, 400 for a bad status or a paused monitor.
        """
        code = STATUS_CODES.get(str(status).lower())
        if code is None:
            raise SimError(400, f"status must be one of {sorted(STATUS_CODES)}")
        if ping is not None and (isinstance(ping, bool) or not isinstance(ping, (int, float)) or ping < 0):
            raise SimError(400, "ping must be a number >= 0")
        with self._lock:
            monitor = self.monitor(monitor_id)
            if not monitor.active:
                raise SimError(400, f"monitor {monitor_id} is paused")
            monitor.in_maintenance = code == STATUS_MAINTENANCE
            beat = self._beat(monitor, code, ping=ping, msg=msg, force_important=True)
            self._cache.clear()
            logger.info("monitor %s (%s) flipped to %s", monitor.id, monitor.name, STATUS_NAMES[code])
            return self._live_heartbeat(beat)

    def rename(self, monitor_id: int, name: str) -> None:
        """Rename a monitor as the admin would in Kuma's editor (names need not be unique).

        Like Kuma after an edit, 1.23 re-sends the whole ``monitorList`` and 2.x sends
        ``updateMonitorIntoList`` with just this monitor (§4.9).

        Raises:
            SimError: 404 for an unknown monitor, 400 for an empty name.
        """
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "name must be a non-empty string")
        with self._lock:
            monitor = self.monitor(monitor_id)
            monitor.name = name.strip()
            self._cache.clear()
            if self.version == "1.23":
                self._publish([("monitorList", self.monitor_list_payload())])
            else:
                self._publish([("updateMonitorIntoList", {str(monitor.id): self.monitor_json(monitor)})])

    def pause(self, monitor_id: int) -> None:
        """Pause a monitor: it stops beating and leaves ``/metrics``.

        Raises:
            SimError: 404 for an unknown monitor.
        """
        with self._lock:
            monitor = self.monitor(monitor_id)
            monitor.active = False
            self._cache.clear()
            self._publish([("monitorList", self.monitor_list_payload())])

    def resume(self, monitor_id: int) -> None:
        """Resume a monitor; like Kuma it checks (beats) at once.

        Raises:
            SimError: 404 for an unknown monitor.
        """
        with self._lock:
            monitor = self.monitor(monitor_id)
            if monitor.active:
                return
            monitor.active = True
            self._cache.clear()
            self._publish([("monitorList", self.monitor_list_payload())])
            if monitor.type != "push":
                self._beat(monitor, self._current_status(monitor))

    def tick(self) -> int:
        """One regular check of every active (non-push) monitor, repeating its status.

        Returns:
            How many beats were added.
        """
        with self._lock:
            count = 0
            for monitor in self.monitors.values():
                if monitor.active and monitor.type != "push":
                    self._beat(monitor, self._current_status(monitor))
                    count += 1
            return count

    def advance(self, seconds: float) -> int:
        """Move the clock forward; active monitors beat once per elapsed interval.

        Args:
            seconds: How far to move (>= 0).

        Returns:
            How many beats were added.

        Raises:
            SimError: 400 for a negative value.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise SimError(400, "seconds must be a number >= 0")
        with self._lock:
            start = self.now()
            self._clock_offset += float(seconds)
            count = 0
            for monitor in self.monitors.values():
                if not monitor.active or monitor.type == "push":
                    continue
                steps = min(int(seconds // monitor.interval), 100)
                for step in range(1, steps + 1):
                    self._beat(monitor, self._current_status(monitor), when=start + step * monitor.interval)
                    count += 1
            self._expire_cache()
            return count

    def push(self, token: str, *, status: str | None = "up", msg: str | None = "OK",
             ping: str | float | None = None) -> None:
        """A push-monitor beat, as ``/api/push/{token}`` records it.

        Raises:
            SimError: 404 ``Monitor not found or not active.`` (or a bad 2.x ping).
        """
        with self._lock:
            monitor = next((m for m in self.monitors.values() if m.push_token == token and m.active), None)
            if monitor is None:
                raise SimError(404, "Monitor not found or not active.")
            try:
                ping_value = float(ping) if ping not in (None, "") else None
            except (TypeError, ValueError):
                ping_value = None
            if ping_value is not None and ping_value != ping_value:
                ping_value = None
            if self.version == "2.x" and ping_value is not None and not 0 <= ping_value <= 1e11:
                raise SimError(404, "Invalid ping value.")
            code = STATUS_UP if (status or "up") == "up" else STATUS_DOWN
            if monitor.in_maintenance:
                code = STATUS_MAINTENANCE
            self._beat(monitor, code, ping=ping_value, msg=msg if msg is not None else "OK")
