"""Uptime Kuma's public status page in the simulator: ``/api/status-page/{slug}`` and
``/api/status-page/heartbeat/{slug}`` payloads, served from a cache as Kuma does."""

from __future__ import annotations

from typing import Any

from medianest.simulators import fixtures
from medianest.simulators.uptime_kuma.model import Monitor, kuma_time
from medianest.simulators.uptime_kuma.payloads import KumaPayloads


class KumaStatusPages(KumaPayloads):
    """The public status page and its heartbeats."""

    def _public_monitors(self) -> list[Monitor]:
        # The group was filled when the fixtures were loaded: every monitor active then.
        ids = [fx.id for fx in fixtures.KUMA_MONITORS if fx.active]
        return [self.monitors[i] for i in ids if i in self.monitors]

    def _find_slug(self, slug: str) -> str | None:
        wanted = slug.lower() if self.version == "2.x" else slug
        return wanted if wanted == fixtures.KUMA_STATUS_PAGE_SLUG else None

    def status_page(self, slug: str) -> dict[str, Any] | None:
        """``/api/status-page/{slug}`` payload (served from a cache), or None for an unknown slug."""
        with self._lock:
            found = self._find_slug(slug)
            if found is None:
                return None
            return self._cached("page", found, self.page_cache_seconds, self._build_status_page)

    def _build_status_page(self) -> dict[str, Any]:
        config = self._page_config()
        monitors = []
        for monitor in self._public_monitors():
            entry: dict[str, Any] = {"id": monitor.id, "name": monitor.name, "sendUrl": 0, "type": monitor.type}
            if config["showTags"]:
                entry["tags"] = self._tags_json(monitor)
            if config["showCertificateExpiry"] and monitor.cert_days_remaining is not None:
                entry.update(certExpiryDaysRemaining=monitor.cert_days_remaining, validCert=True)
            monitors.append(entry)
        incident = dict(self.incident)
        payload: dict[str, Any] = {"config": config}
        if self.version == "2.x":
            payload["incidents"] = [incident]
        else:
            payload["incident"] = incident
        payload["publicGroupList"] = [{"id": 1, "name": "Services", "weight": 1, "monitorList": monitors}]
        payload["maintenanceList"] = []
        return payload

    def status_page_heartbeats(self, slug: str) -> dict[str, Any]:
        """``/api/status-page/heartbeat/{slug}`` payload (empty objects for an unknown slug)."""
        with self._lock:
            found = self._find_slug(slug)
            if found is None:
                return {"heartbeatList": {}, "uptimeList": {}}
            return self._cached("heartbeat", found, self.heartbeat_cache_seconds, self._build_heartbeats)

    def _build_heartbeats(self) -> dict[str, Any]:
        count = 50 if self.version == "1.23" else 100
        beats: dict[str, Any] = {}
        uptime: dict[str, float] = {}
        for monitor in self._public_monitors():
            rows = list(monitor.beats)[-count:]
            beats[str(monitor.id)] = [{"status": b.status, "time": kuma_time(b.time), "msg": "",
                                       "ping": None if b.ping is None else (
                                           round(b.ping, 3) if self.version == "2.x" else int(b.ping))}
                                      for b in rows]
            if rows:
                uptime[f"{monitor.id}_24"] = self.uptime(monitor, 24)
        return {"heartbeatList": beats, "uptimeList": uptime}
