"""The HTTP side of Uptime Kuma: ``/metrics`` (every monitor's state) and public status pages
(history and 24 h uptime of the published monitors)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pybreaker

from ...errors import IntegrationRejected, IntegrationUnavailable
from ..base import BaseClient
from .common import SERVICE, MonitorHistory, MonitorState, _beat_from, _fraction, _int_or_none, _text_or_none
from .metrics import PromSample, build_monitor_states, parse_prometheus


class UptimeKumaClient(BaseClient):
    """``/metrics`` and public status pages of one Uptime Kuma."""

    service = SERVICE

    def __init__(self, base_url: str, *, api_key: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0,
                 breaker: pybreaker.CircuitBreaker | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Create the client.

        Args:
            base_url: Kuma's address, e.g. ``http://kuma.lan:3001``.
            api_key: An API key (``uk1_…``); preferred for ``/metrics``.
            username: The admin's username, for ``/metrics`` when no API key exists yet.
            password: The admin's password (same case).
            timeout: Seconds for every request.
            breaker: A ``pybreaker.CircuitBreaker``; defaults to the shared one.
            transport: An httpx transport (tests).
        """
        super().__init__(base_url, timeout=timeout, breaker=breaker, transport=transport)
        self._api_key = api_key or None
        self._username = username
        self._password = password

    def _metrics_auth(self) -> httpx.BasicAuth | None:
        if self._api_key:
            # Kuma ignores the username once API keys exist; send an empty one.
            return httpx.BasicAuth("", self._api_key)
        if self._username and self._password is not None:
            return httpx.BasicAuth(self._username, self._password)
        return None

    async def _metrics(self) -> tuple[list[PromSample], set[str]]:
        """``/metrics``, parsed.

        Raises:
            IntegrationRejected: 401 when the key (or password) is refused, other 4xx.
            IntegrationUnavailable: timeouts, connection errors, 5xx, or the breaker being open.
        """
        try:
            response = await self._request("GET", "/metrics", auth=self._metrics_auth(),
                                           headers={"Accept": "text/plain;version=0.0.4, */*;q=0.1"})
        except IntegrationRejected as exc:
            if exc.status_code == 401:
                what = "API key" if self._api_key else "username or password"
                rejected = IntegrationRejected(self.service, 401, f"Uptime Kuma refused the {what}")
                rejected.user_message = f"Uptime Kuma refused the {what}."
                if not self._api_key:
                    # Kuma gives the same 401 for a wrong password and for a right one once an
                    # API key exists (from then on /metrics takes keys only), and the second is
                    # the usual case: the same password still works for the live socket.
                    rejected.user_message = (
                        "Uptime Kuma refused the username or password for /metrics. Uptime Kuma needs an "
                        "API key for /metrics once one exists: add it in Settings → API Keys "
                        "(UPTIME_KUMA_API_KEY).")
                raise rejected from exc
            raise
        return parse_prometheus(response.text)

    async def fetch_metrics(self) -> list[MonitorState]:
        """Every monitor that ``/metrics`` reports (paused ones and ones that never beat are absent).

        Returns:
            One ``MonitorState`` per monitor, ordered by id then name.

        Raises:
            IntegrationRejected: 401 when the key (or password) is refused, other 4xx.
            IntegrationUnavailable: timeouts, connection errors, 5xx, a body that is not
                Uptime Kuma metrics, or the breaker being open.
        """
        samples, names = await self._metrics()
        if "monitor_status" not in names:
            raise IntegrationUnavailable(self.service, "the /metrics answer has no Uptime Kuma metrics")
        return build_monitor_states(samples)

    async def server_version(self) -> str | None:
        """Kuma's version: the ``app_version{version=…}`` gauge its ``/metrics`` middleware
        (prometheus-api-metrics) adds in 1.23 and 2.x; None when the answer has none.

        Raises:
            IntegrationRejected: 401 when the key (or password) is refused, other 4xx.
            IntegrationUnavailable: timeouts, connection errors, 5xx, or the breaker being open.
        """
        samples, _ = await self._metrics()
        return next((s.labels["version"] for s in samples if s.name == "app_version" and s.labels.get("version")),
                    None)

    async def fetch_status_page(self, slug: str) -> list[MonitorHistory]:
        """History of the monitors published on a status page.

        Args:
            slug: The status page's slug.

        Returns:
            One ``MonitorHistory`` per monitor in a public group, in page order.

        Raises:
            IntegrationRejected: 404 for an unknown slug (2.x), other 4xx.
            IntegrationUnavailable: a timeout (1.23 never answers for an unknown slug),
                connection errors, 5xx, a body that is not the expected JSON.
        """
        path = quote(slug.strip(), safe="")
        if not path:
            raise IntegrationRejected(self.service, 404, "empty status page slug")
        try:
            page = self._json(await self._request("GET", f"/api/status-page/{path}"), self.service)
        except IntegrationRejected as exc:
            if exc.status_code == 404:
                raise IntegrationRejected(self.service, 404, f"status page {slug!r} not found") from exc
            raise
        monitors = _public_monitors(page)
        heartbeats = self._json(await self._request("GET", f"/api/status-page/heartbeat/{path}"), self.service)
        if not isinstance(heartbeats, dict):
            raise IntegrationUnavailable(self.service, "status page heartbeats are not an object")
        beat_lists = heartbeats.get("heartbeatList") or {}
        uptimes = heartbeats.get("uptimeList") or {}
        if not isinstance(beat_lists, dict) or not isinstance(uptimes, dict):
            raise IntegrationUnavailable(self.service, "unexpected status page heartbeat shape")
        histories = []
        for monitor_id, name, kind in monitors:
            rows = beat_lists.get(str(monitor_id)) or []
            beats = [parsed[1] for parsed in map(_beat_from, rows if isinstance(rows, list) else []) if parsed]
            beats.sort(key=lambda beat: beat.time)
            histories.append(MonitorHistory(monitor_id=monitor_id, name=name, beats=beats,
                                            uptime_24h=_fraction(uptimes.get(f"{monitor_id}_24")), type=kind))
        return histories


def _public_monitors(page: Any) -> list[tuple[int, str, str | None]]:
    """(id, name, type) of every monitor in the page's public groups, in order."""
    groups = page.get("publicGroupList") if isinstance(page, dict) else None
    if not isinstance(groups, list):
        raise IntegrationUnavailable(SERVICE, "unexpected status page shape")
    found: list[tuple[int, str, str | None]] = []
    seen: set[int] = set()
    for group in groups:
        for item in (group.get("monitorList") or []) if isinstance(group, dict) else []:
            monitor_id = _int_or_none(item.get("id")) if isinstance(item, dict) else None
            if monitor_id is None or monitor_id in seen:
                continue
            seen.add(monitor_id)
            found.append((monitor_id, str(item.get("name") or f"Monitor {monitor_id}"),
                          _text_or_none(item.get("type"))))
    return found
