"""What the Uptime Kuma simulator sends on Socket.IO: monitor lists, heartbeats (raw rows and
live events), statistics, the events after a login, maintenance and status-page lists."""

from __future__ import annotations

import json
import re
from typing import Any

from medianest.simulators import fixtures
from medianest.simulators.plex import SimError
from medianest.simulators.uptime_kuma.model import ApiKey, Heartbeat, Monitor, _kuma_date, kuma_time
from medianest.simulators.uptime_kuma.state import KumaState


class KumaPayloads(KumaState):
    """The socket payloads for the current version."""

    def _tag_ids(self) -> dict[str, int]:
        names = sorted({name for m in self.monitors.values() for name, _ in m.tags})
        return {name: index for index, name in enumerate(names, start=1)}

    def _tags_json(self, monitor: Monitor) -> list[dict[str, Any]]:
        ids = self._tag_ids()
        return [{"id": monitor.id * 10 + i, "monitor_id": monitor.id, "tag_id": ids[name], "value": value,
                 "name": name, "color": fixtures.KUMA_TAG_COLORS.get(name, "#4B5563")}
                for i, (name, value) in enumerate(monitor.tags)]

    def monitor_json(self, monitor: Monitor) -> dict[str, Any]:
        """One entry of ``monitorList`` for the current version."""
        data: dict[str, Any] = {
            "id": monitor.id, "name": monitor.name, "pathName": monitor.name, "parent": None,
            "childrenIDs": [], "url": monitor.url, "method": "GET", "hostname": monitor.hostname,
            "port": monitor.port, "maxretries": 0, "weight": 2000, "active": monitor.active,
            "type": monitor.type, "interval": monitor.interval, "retryInterval": monitor.interval,
            "resendInterval": 0, "keyword": None, "invertKeyword": False, "expiryNotification": False,
            "ignoreTls": False, "upsideDown": False, "packetSize": 56, "maxredirects": 10,
            "accepted_statuscodes": ["200-299"], "dns_resolve_type": "A", "dns_resolve_server": "1.1.1.1",
            "dns_last_result": None, "docker_container": "", "docker_host": None, "proxyId": None,
            "notificationIDList": {}, "tags": self._tags_json(monitor), "maintenance": monitor.in_maintenance,
            "pushToken": monitor.push_token, "includeSensitiveData": True,
        }
        if self.version == "2.x":
            data.update(description=None, path=[monitor.name], forceInactive=False, conditions=[])
        return data

    def monitor_list_payload(self) -> dict[str, Any]:
        """``monitorList``: keyed by the id as a string."""
        with self._lock:
            return {str(m.id): self.monitor_json(m) for m in self.monitors.values()}

    def info_payload(self, *, logged_in: bool) -> dict[str, Any]:
        """``info``: versions only after login."""
        data: dict[str, Any] = {"primaryBaseURL": None, "serverTimezone": "UTC", "serverTimezoneOffset": "+00:00"}
        if logged_in:
            release = fixtures.KUMA_VERSIONS[self.version]
            data.update(version=release, latestVersion=release, isContainer=True)
            if self.version == "2.x":
                data.update(dbType="sqlite", runtime={"platform": "linux", "arch": "x64"})
        return data

    def _row(self, beat: Heartbeat) -> dict[str, Any]:
        """A raw heartbeat row (snake_case, ``important`` as 0/1)."""
        row: dict[str, Any] = {
            "id": beat.id, "important": int(beat.important), "monitor_id": beat.monitor_id,
            "status": beat.status, "msg": beat.msg, "time": kuma_time(beat.time),
            "ping": None if beat.ping is None else (round(beat.ping, 3) if self.version == "2.x" else int(beat.ping)),
            "duration": beat.duration, "down_count": beat.down_count,
        }
        if self.version == "2.x":
            row.update(end_time=kuma_time(beat.time), retries=beat.retries, response=None)
        return row

    def _live_heartbeat(self, beat: Heartbeat) -> dict[str, Any]:
        """The live ``heartbeat`` event (camelCase, ``monitorID`` an int)."""
        data: dict[str, Any] = {
            "monitorID": beat.monitor_id, "status": beat.status, "time": kuma_time(beat.time), "msg": beat.msg,
            "ping": None if beat.ping is None else (round(beat.ping, 3) if self.version == "2.x" else int(beat.ping)),
            "important": beat.important, "duration": beat.duration,
        }
        if self.version == "2.x":
            data.update(retries=beat.retries, response=None)
        return data

    def _stats_events(self, monitor: Monitor) -> list[tuple[str, Any]]:
        key = str(monitor.id)
        avg = self.avg_ping(monitor)
        if avg is not None:
            avg = round(avg, 2) if self.version == "2.x" else int(avg)
        events: list[tuple[str, Any]] = [
            ("avgPing", (key, avg)),
            ("uptime", (key, 24, self.uptime(monitor, 24))),
            ("uptime", (key, 720, self.uptime(monitor, 720))),
        ]
        if self.version == "2.x":
            events.append(("uptime", (key, "1y", self.uptime(monitor, 365 * 24))))
        if monitor.cert_days_remaining is not None:
            events.append(("certInfo", (key, json.dumps(self._cert_info(monitor)))))
        return events

    def _cert_info(self, monitor: Monitor) -> dict[str, Any]:
        days = monitor.cert_days_remaining or 0
        host = re.sub(r"^https?://([^/:]+).*$", r"\1", monitor.url)
        return {"valid": True, "certInfo": {"subject": {"CN": host}, "issuer": {"CN": "R11", "O": "Let's Encrypt"},
                                            "daysRemaining": days, "validTo": _kuma_date(self.now() + days * 86400)}}

    def _beat_events(self, monitor: Monitor, beat: Heartbeat) -> list[tuple[str, Any]]:
        return [("heartbeat", self._live_heartbeat(beat)), *self._stats_events(monitor)]

    def after_login_events(self) -> list[tuple[str, Any]]:
        """Everything Kuma pushes after a login (``afterLogin``), in order."""
        with self._lock:
            events: list[tuple[str, Any]] = [
                ("monitorList", self.monitor_list_payload()),
                ("info", self.info_payload(logged_in=True)),
                ("maintenanceList", self.maintenance_list_payload()),
                ("notificationList", []),
                ("proxyList", []),
                ("dockerHostList", []),
                ("apiKeyList", [self._api_key_json(k) for k in self.api_keys.values()]),
            ]
            if self.version == "2.x":
                events += [("remoteBrowserList", []),
                           ("monitorTypeList", {"http": {"sslValidation": True}, "push": {}, "port": {}, "ping": {}})]
            events.append(("statusPageList", self.status_page_list_payload()))
            for monitor in self.monitors.values():
                key = str(monitor.id)
                events.append(("heartbeatList", (key, [self._row(b) for b in list(monitor.beats)[-100:]], True)))
                if self.version == "1.23":
                    important = [b for b in monitor.beats if b.important][-500:]
                    events.append(("importantHeartbeatList", (key, [
                        {"monitorID": b.monitor_id, "status": b.status, "time": kuma_time(b.time), "msg": b.msg,
                         "ping": None if b.ping is None else int(b.ping), "important": True,
                         "duration": b.duration} for b in reversed(important)], True)))
                events.extend(self._stats_events(monitor))
            return events

    def monitor_beats(self, monitor_id: Any, period_hours: Any) -> dict[str, Any]:
        """``getMonitorBeats`` answer."""
        with self._lock:
            try:
                monitor = self.monitor(int(monitor_id))
                hours = float(period_hours)
            except (SimError, TypeError, ValueError):
                return {"ok": False, "msg": "Monitor not found"}
            return {"ok": True, "data": [self._row(b) for b in self._window(monitor, hours * 3600)]}

    def _api_key_json(self, key: ApiKey) -> dict[str, Any]:
        return {"id": key.id, "name": key.name, "userID": 1, "createdDate": _kuma_date(key.created),
                "active": key.active, "expires": None, "status": "active" if key.active else "inactive"}

    def maintenance_list_payload(self) -> dict[str, Any]:
        """``maintenanceList``: keyed by id."""
        start, end = self._maintenance_window
        item = dict(self.maintenance, timeslotList=[{"startDate": _kuma_date(start), "endDate": _kuma_date(end)}],
                    dateRange=[_kuma_date(start), _kuma_date(end)], intervalDay=1, weekdays=[], daysOfMonth=[],
                    timezone="UTC", timezoneOption="SAME_AS_SERVER", timezoneOffset="+00:00")
        return {str(item["id"]): item}

    def _page_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "slug": fixtures.KUMA_STATUS_PAGE_SLUG, "title": fixtures.KUMA_STATUS_PAGE_TITLE,
            "description": "Is it us or is it you?", "icon": "/icon.svg", "theme": "auto", "published": True,
            "showTags": True, "domainNameList": [], "customCSS": "body {\n  \n}\n", "footerText": None,
            "showPoweredBy": True, "showCertificateExpiry": True,
        }
        if self.version == "2.x":
            config.update(autoRefreshInterval=300, analyticsId=None, analyticsScriptUrl=None, analyticsType=None,
                          showOnlyLastHeartbeat=False, rssTitle=None)
        else:
            config["googleAnalyticsId"] = None
        return config

    def status_page_list_payload(self) -> dict[str, Any]:
        """``statusPageList``: keyed by id."""
        config = self._page_config()
        return {"1": {"id": 1, **config}}
