"""The Uptime Kuma simulator over real HTTP and Socket.IO: auth, shapes per version, hooks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import socketio

from medianest.simulators import fixtures
from medianest.simulators.uptime_kuma import KumaHandle

KEY = fixtures.KUMA_API_KEY
SLUG = fixtures.KUMA_STATUS_PAGE_SLUG
LABELS_123 = {"monitor_name", "monitor_type", "monitor_url", "monitor_hostname", "monitor_port"}
_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture
def kuma(kuma_server: KumaHandle) -> Iterator[KumaHandle]:
    kuma_server.sim.reset()
    yield kuma_server
    kuma_server.sim.reset()


@pytest.fixture(autouse=True)
def fresh_kuma(kuma: KumaHandle) -> None:
    """Every test here starts from the fixtures."""


@pytest.fixture
def http(kuma: KumaHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kuma.url, timeout=5) as client:
        yield client


def _samples(text: str) -> list[tuple[str, dict[str, str], str]]:
    found = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        found.append((match.group(1), dict(_LABEL.findall(match.group(2) or "")), match.group(3)))
    return found


def _metrics(http: httpx.Client) -> list[tuple[str, dict[str, str], str]]:
    response = http.get("/metrics", auth=("", KEY))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _status_by_name(http: httpx.Client) -> dict[str, str]:
    return {labels["monitor_name"]: value for name, labels, value in _metrics(http) if name == "monitor_status"}


# ---- /metrics ------------------------------------------------------------------------


def test_metrics_needs_an_active_api_key(http: httpx.Client) -> None:
    for auth in (None, ("", "uk1_wrong"), ("", fixtures.KUMA_INACTIVE_API_KEY),
                 (fixtures.KUMA_USERNAME, fixtures.KUMA_PASSWORD)):
        response = http.get("/metrics", auth=auth)
        assert response.status_code == 401, auth
        assert response.headers["www-authenticate"].startswith("Basic")
    assert http.get("/metrics", auth=("", KEY)).status_code == 200
    assert http.get("/metrics", auth=("whoever", KEY)).status_code == 200  # username ignored


def test_metrics_take_the_admin_password_until_a_key_exists(http: httpx.Client) -> None:
    assert http.post("/__sim__/api-keys", json={"enabled": False}).json() == {"enabled": False}
    assert http.get("/metrics", auth=(fixtures.KUMA_USERNAME, fixtures.KUMA_PASSWORD)).status_code == 200
    assert http.get("/metrics", auth=(fixtures.KUMA_USERNAME, "wrong")).status_code == 401
    assert http.get("/metrics", auth=("", KEY)).status_code == 401


def test_metrics_shape_1_23(kuma: KumaHandle, http: httpx.Client) -> None:
    kuma.sim.set_version("1.23")
    samples = _metrics(http)
    names = {name for name, _, _ in samples}
    assert {"monitor_status", "monitor_response_time", "monitor_cert_days_remaining",
            "monitor_cert_is_valid", "process_cpu_user_seconds_total"} <= names
    assert "monitor_uptime_ratio" not in names and "monitor_response_time_seconds" not in names
    status = [(labels, value) for name, labels, value in samples if name == "monitor_status"]
    assert all(set(labels) == LABELS_123 for labels, _ in status)
    assert {labels["monitor_name"]: value for labels, value in status} == {
        "Plex": "1", "Overseerr": "1", "NAS": "1", "VPN": "1"}
    vpn = next(labels for labels, _ in status if labels["monitor_name"] == "VPN")
    assert vpn == {"monitor_name": "VPN", "monitor_type": "port", "monitor_url": "https://",
                   "monitor_hostname": "vpn.example.org", "monitor_port": "443"}
    cert = [labels["monitor_name"] for name, labels, _ in samples if name == "monitor_cert_days_remaining"]
    assert cert == ["Overseerr"]


def test_metrics_shape_2x(http: httpx.Client) -> None:
    samples = _metrics(http)
    status = {labels["monitor_id"]: labels for name, labels, _ in samples if name == "monitor_status"}
    assert sorted(status) == ["1", "2", "3", "4"]
    assert status["2"]["monitor_name"] == "Overseerr"
    assert status["2"]["media"] == "" and status["2"]["public"] == "yes"  # one label per tag
    assert set(status["3"]) == LABELS_123 | {"monitor_id", "infra"}
    windows = {(labels["monitor_id"], labels["window"]): float(value)
               for name, labels, value in samples if name == "monitor_uptime_ratio"}
    assert {w for (_, w) in windows} == {"1d", "30d", "365d"}
    assert windows[("2", "1d")] == pytest.approx(0.96)  # four DOWN beats out of 100
    seconds = [float(v) for name, _, v in samples if name == "monitor_response_time_seconds"]
    assert seconds and all(0 < v < 1 for v in seconds)


def test_paused_and_never_beating_monitors_have_no_series(kuma: KumaHandle, http: httpx.Client) -> None:
    assert set(_status_by_name(http)) == {"Plex", "Overseerr", "NAS", "VPN"}  # not HA (paused), not Downloader
    assert http.post("/__sim__/monitors/1/pause").status_code == 200
    assert "Plex" not in _status_by_name(http)
    assert http.post("/__sim__/monitors/5/resume").status_code == 200
    assert _status_by_name(http)["Home Assistant"] == "1"  # resumed monitors check at once
    response = http.get(f"/api/push/{fixtures.KUMA_PUSH_TOKEN}", params={"status": "up", "msg": "OK", "ping": "12"})
    assert response.json() == {"ok": True}
    assert _status_by_name(http)["Downloader"] == "1"


# ---- status pages --------------------------------------------------------------------


@pytest.mark.parametrize(("version", "beats"), [("1.23", 50), ("2.x", 100)])
def test_status_page_shapes(kuma: KumaHandle, http: httpx.Client, version: str, beats: int) -> None:
    kuma.sim.set_version(version)
    page = http.get(f"/api/status-page/{SLUG}").json()
    assert page["config"]["slug"] == SLUG and page["config"]["published"] is True
    if version == "1.23":
        assert page["incident"]["title"] and "incidents" not in page
        assert "autoRefreshInterval" not in page["config"]
    else:
        assert [i["id"] for i in page["incidents"]] == [1] and "incident" not in page
        assert page["config"]["autoRefreshInterval"] == 300
    (group,) = page["publicGroupList"]
    assert [m["id"] for m in group["monitorList"]] == [1, 2, 3, 4, 6]
    assert group["monitorList"][1]["certExpiryDaysRemaining"] == 42

    heartbeats = http.get(f"/api/status-page/heartbeat/{SLUG}").json()
    assert sorted(heartbeats["heartbeatList"]) == ["1", "2", "3", "4", "6"]
    plex = heartbeats["heartbeatList"]["1"]
    assert len(plex) == beats and heartbeats["heartbeatList"]["6"] == []
    assert set(plex[0]) == {"status", "time", "msg", "ping"}
    assert all(b["msg"] == "" for b in plex)
    assert [b["time"] for b in plex] == sorted(b["time"] for b in plex)  # oldest first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", plex[-1]["time"])
    assert set(heartbeats["uptimeList"]) == {"1_24", "2_24", "3_24", "4_24"}
    assert 0 < heartbeats["uptimeList"]["2_24"] < 1


def test_unknown_slug_2x_is_404_and_slugs_are_lower_cased(http: httpx.Client) -> None:
    response = http.get("/api/status-page/nope")
    assert response.status_code == 404
    assert response.json() == {"status": "fail", "msg": "Status Page Not Found"}
    assert http.get("/api/status-page/HOUSEHOLD").status_code == 200
    assert http.get("/api/status-page/heartbeat/nope").json() == {"heartbeatList": {}, "uptimeList": {}}


def test_unknown_slug_1_23_hangs(kuma: KumaHandle, http: httpx.Client) -> None:
    kuma.sim.set_version("1.23")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.get("/api/status-page/nope", timeout=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert http.get("/api/status-page/heartbeat/nope").json() == {"heartbeatList": {}, "uptimeList": {}}


def test_status_page_cache_is_cleared_by_important_beats_only(kuma: KumaHandle, http: httpx.Client) -> None:
    before = http.get(f"/api/status-page/heartbeat/{SLUG}").json()["heartbeatList"]["1"][-1]
    kuma.sim.tick()  # an ordinary beat: the page stays cached (60 s in Kuma)
    assert http.get(f"/api/status-page/heartbeat/{SLUG}").json()["heartbeatList"]["1"][-1] == before
    response = http.post("/__sim__/monitors/1/status", json={"status": "down", "msg": "boom"})
    assert response.status_code == 200 and response.json()["heartbeat"]["important"] is True
    after = http.get(f"/api/status-page/heartbeat/{SLUG}").json()
    assert after["heartbeatList"]["1"][-1]["status"] == 0
    assert after["uptimeList"]["1_24"] < 1


# ---- hooks ---------------------------------------------------------------------------


def test_flip_hook_changes_metrics(http: httpx.Client) -> None:
    assert http.post("/__sim__/monitors/3/status", json={"status": "down"}).status_code == 200
    samples = _metrics(http)
    nas = {name: value for name, labels, value in samples if labels.get("monitor_name") == "NAS"}
    assert nas["monitor_status"] == "0" and nas["monitor_response_time"] == "-1"
    http.post("/__sim__/monitors/3/status", json={"status": "maintenance"})
    http.post("/__sim__/advance", json={"seconds": 120})
    assert _status_by_name(http)["NAS"] == "3"  # stays in maintenance on later beats
    http.post("/__sim__/monitors/3/status", json={"status": "pending", "ping": 5})
    assert _status_by_name(http)["NAS"] == "2"


def test_hook_errors(http: httpx.Client) -> None:
    assert http.post("/__sim__/monitors/99/status", json={"status": "down"}).status_code == 404
    assert http.post("/__sim__/monitors/1/status", json={"status": "sideways"}).status_code == 400
    assert http.post("/__sim__/monitors/5/status", json={"status": "down"}).status_code == 400  # paused
    assert http.post("/__sim__/version", json={"version": "3.0"}).status_code == 400
    assert http.post("/__sim__/version", json={"version": "1.23"}).json() == {"version": "1.23"}
    state = http.get("/__sim__/state").json()
    assert state["version"] == "1.23" and state["release"] == "1.23.16"
    assert [m["id"] for m in state["monitors"]] == [1, 2, 3, 4, 5, 6]
    assert http.post("/__sim__/reset").json()["state"]["version"] == "2.x"


def test_push_endpoint(kuma: KumaHandle, http: httpx.Client) -> None:
    token = fixtures.KUMA_PUSH_TOKEN
    assert http.get(f"/api/push/{token}").json() == {"ok": True}  # status defaults to up
    assert http.post(f"/api/push/{token}", params={"status": "down", "msg": "disk full"}).json() == {"ok": True}
    assert _status_by_name(http)["Downloader"] == "0"  # anything but "up" is down
    missing = http.get("/api/push/nope")
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "msg": "Monitor not found or not active."}
    assert http.get(f"/api/push/{token}", params={"ping": "-5"}).status_code == 404  # 2.x checks ping
    kuma.sim.set_version("1.23")
    cannot = http.post(f"/api/push/{token}")
    assert cannot.status_code == 404 and "Cannot POST" in cannot.text  # 1.23 routes GET only
    kuma.sim.pause(6)
    assert http.get(f"/api/push/{token}").status_code == 404


def test_faults_and_overrides_apply_to_http(http: httpx.Client) -> None:
    assert http.post("/__sim__/faults", json={"status": 503, "times": 1}).status_code == 200
    assert http.get("/metrics", auth=("", KEY)).status_code == 503
    assert http.get("/metrics", auth=("", KEY)).status_code == 200
    http.post("/__sim__/override", json={"path": f"/api/status-page/{SLUG}", "body": "<html>oops</html>",
                                         "content_type": "text/html", "times": 1})
    assert http.get(f"/api/status-page/{SLUG}").text == "<html>oops</html>"
    assert http.get(f"/api/status-page/{SLUG}").json()["config"]["slug"] == SLUG


# ---- Socket.IO -----------------------------------------------------------------------


class _Recorder:
    """A python-socketio client that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.client.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args))

    async def connect(self, url: str) -> None:
        await self.client.connect(url, socketio_path="socket.io", transports=["websocket"], wait_timeout=5)

    async def wait_for(self, predicate: Any, timeout: float = 3.0) -> tuple[str, tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.events:
                if predicate(item):
                    return item
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching event; got {[e for e, _ in self.events]}")


@pytest.mark.parametrize("version", ["1.23", "2.x"])
async def test_socket_login_and_after_login_burst(kuma: KumaHandle, version: str) -> None:
    kuma.sim.set_version(version)
    rec = _Recorder()
    await rec.connect(kuma.url)
    try:
        await rec.wait_for(lambda e: e[0] == "info")
        assert "version" not in rec.events[0][1][0]
        refused = await rec.client.call("login", {"username": "admin", "password": "nope", "token": ""}, timeout=5)
        assert refused == ({"ok": False, "msg": "Incorrect username or password."} if version == "1.23"
                           else {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True})
        assert await rec.client.call("getMonitorList", timeout=5) == {"ok": False, "msg": "You are not logged in."}
        ack = await rec.client.call("login", {"username": fixtures.KUMA_USERNAME,
                                              "password": fixtures.KUMA_PASSWORD, "token": ""}, timeout=5)
        assert ack == {"ok": True, "token": kuma.sim.token}
        await rec.wait_for(lambda e: e[0] == "uptime" and e[1][0] == "6" and e[1][1] == 720)
        names = [event for event, _ in rec.events[1:]]
        head = ["monitorList", "info", "maintenanceList", "notificationList", "proxyList", "dockerHostList",
                "apiKeyList"] + (["remoteBrowserList", "monitorTypeList"] if version == "2.x" else []) \
            + ["statusPageList", "heartbeatList"]
        assert names[:len(head)] == head
        assert ("importantHeartbeatList" in names) is (version == "1.23")
        monitor_list = rec.events[1][1][0]
        assert sorted(monitor_list) == ["1", "2", "3", "4", "5", "6"] and monitor_list["5"]["active"] is False
        info = next(args[0] for event, args in rec.events[2:] if event == "info")
        assert info["version"] == fixtures.KUMA_VERSIONS[version]
        monitor_id, rows, overwrite = next(args for event, args in rec.events if event == "heartbeatList")
        assert monitor_id == "1" and overwrite is True and len(rows) == 100
        assert {"id", "monitor_id", "status", "msg", "time", "ping", "duration", "down_count",
                "important"} <= set(rows[0])  # raw snake_case rows
        periods = [args[1] for event, args in rec.events if event == "uptime" and args[0] == "1"]
        assert periods == ([24, 720] if version == "1.23" else [24, 720, "1y"])
    finally:
        await rec.client.disconnect()


async def test_flip_pushes_heartbeat_then_stats(kuma: KumaHandle) -> None:
    rec = _Recorder()
    await rec.connect(kuma.url)
    try:
        await rec.wait_for(lambda e: e[0] == "info")  # 2.x ignores what comes before it
        assert await rec.client.call("loginByToken", "not-a-token", timeout=5) == {
            "ok": False, "msg": "authInvalidToken", "msgi18n": True}
        assert await rec.client.call("loginByToken", kuma.sim.token, timeout=5) == {"ok": True}
        await rec.wait_for(lambda e: e[0] == "uptime" and e[1][0] == "6" and e[1][1] == "1y")
        seen = len(rec.events)
        async with httpx.AsyncClient(base_url=kuma.url, timeout=5) as http:
            response = await http.post("/__sim__/monitors/2/status",
                                       json={"status": "down", "msg": "502 - Bad Gateway"})
        assert response.status_code == 200
        _, (beat,) = await rec.wait_for(lambda e: e[0] == "heartbeat")
        assert beat["monitorID"] == 2 and isinstance(beat["monitorID"], int)
        assert (beat["status"], beat["msg"], beat["important"], beat["ping"]) == (0, "502 - Bad Gateway", True, None)
        deadline = time.monotonic() + 3
        while len(rec.events) < seen + 6 and time.monotonic() < deadline:  # heartbeat, avgPing, 3x uptime, certInfo
            await asyncio.sleep(0.01)
        after = [(event, args[0]["monitorID"] if event == "heartbeat" else args[0])
                 for event, args in rec.events[seen:]]
        assert after == [("heartbeat", 2), ("avgPing", "2"), ("uptime", "2"), ("uptime", "2"), ("uptime", "2"),
                         ("certInfo", "2")]
        assert await rec.client.call("getMonitorList", timeout=5) == {"ok": True}
    finally:
        await rec.client.disconnect()


async def test_socket_hooks_refuse_logins_and_drop_connections(kuma: KumaHandle) -> None:
    rec = _Recorder()
    dropped = asyncio.Event()
    rec.client.on("disconnect", lambda *_: dropped.set())
    await rec.connect(kuma.url)
    await rec.wait_for(lambda e: e[0] == "info")
    async with httpx.AsyncClient(base_url=kuma.url, timeout=5) as http:
        assert (await http.post("/__sim__/socket/refuse-logins", json={"refuse": True})).json() == {"refuse": True}
        ack = await rec.client.call("login", {"username": fixtures.KUMA_USERNAME,
                                              "password": fixtures.KUMA_PASSWORD, "token": ""}, timeout=5)
        assert ack["ok"] is False
        assert (await http.get("/__sim__/state")).json()["sockets"] == 1
        assert (await http.post("/__sim__/socket/disconnect-all")).json() == {"disconnected": 1}
    await asyncio.wait_for(dropped.wait(), 3)
    await rec.client.disconnect()


@pytest.mark.parametrize("version", ["1.23", "2.x"])
async def test_2x_drops_what_a_client_emits_before_its_first_info(kuma: KumaHandle, version: str) -> None:
    """Kuma 2.x registers a connection's handlers only after ``await sendInfo(socket)`` (§4.9)."""
    kuma.sim.set_version(version)
    kuma.sim.configure(first_info_delay_seconds=0.5)
    login = {"username": fixtures.KUMA_USERNAME, "password": fixtures.KUMA_PASSWORD, "token": ""}
    rec = _Recorder()
    await rec.connect(kuma.url)
    try:
        if version == "2.x":
            assert not rec.events
            with pytest.raises(socketio.exceptions.TimeoutError):
                await rec.client.call("login", login, timeout=1.5)  # dropped: never answered
            assert [event for event, _ in rec.events] == ["info"]  # and no login burst either
        else:
            assert (await rec.client.call("login", login, timeout=5))["ok"] is True
        await rec.wait_for(lambda e: e[0] == "info")
        assert (await rec.client.call("login", login, timeout=5))["ok"] is True
        await rec.wait_for(lambda e: e[0] == "monitorList")
    finally:
        await rec.client.disconnect()


@pytest.mark.parametrize("version", ["1.23", "2.x"])
async def test_rename_allows_duplicate_names_and_tells_sockets_like_kuma(kuma: KumaHandle, version: str) -> None:
    kuma.sim.set_version(version)
    rec = _Recorder()
    await rec.connect(kuma.url)
    try:
        await rec.wait_for(lambda e: e[0] == "info")
        assert (await rec.client.call("loginByToken", kuma.sim.token, timeout=5)) == {"ok": True}
        await rec.wait_for(lambda e: e[0] == "uptime" and e[1][0] == "6" and e[1][1] == 720)
        seen = len(rec.events)
        async with httpx.AsyncClient(base_url=kuma.url, timeout=5) as http:
            assert (await http.post("/__sim__/monitors/4/rename", json={"name": "NAS"})).json() == {"ok": True}
            assert (await http.post("/__sim__/monitors/4/rename", json={"name": " "})).status_code == 400
            metrics = (await http.get("/metrics", auth=("", KEY))).text
        event, (payload,) = await rec.wait_for(lambda e: e in rec.events[seen:] and e[0] != "info")
        if version == "1.23":
            assert event == "monitorList" and sorted(payload) == ["1", "2", "3", "4", "5", "6"]
        else:
            assert event == "updateMonitorIntoList" and list(payload) == ["4"]
        assert payload["4"]["name"] == "NAS"
        statuses = [labels for name, labels, _ in _samples(metrics) if name == "monitor_status"]
        assert sum(1 for labels in statuses if labels["monitor_name"] == "NAS") == 2
    finally:
        await rec.client.disconnect()
