"""The Uptime Kuma client and live connection against the simulator: both versions,
failures mapped at the edge, the breaker, and the Socket.IO feed."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pybreaker
import pytest

from medianest.errors import IntegrationRejected, IntegrationUnavailable
from medianest.integrations.uptime_kuma import (
    KumaLiveConnection,
    KumaLoginRefused,
    LiveEvent,
    UptimeKumaClient,
    build_monitor_states,
    parse_kuma_time,
    parse_prometheus,
)
from medianest.simulators import fixtures
from medianest.simulators.uptime_kuma import KumaHandle

SLUG = fixtures.KUMA_STATUS_PAGE_SLUG

HAND_WRITTEN = r'''# HELP process_cpu_seconds_total Total CPU.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5 1700000000000
# HELP monitor_status Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)
# TYPE monitor_status gauge
monitor_status{monitor_id="7",monitor_name="Plex \"Main\" {4K}",monitor_type="http",monitor_url="http://plex.lan:32400/a,b",monitor_hostname="null",monitor_port="null",media="",owner="C:\\Users\\x",window_dressing="y"} 1
monitor_status{monitor_id="8",monitor_name="Weird",monitor_type="keyword",monitor_url="https://",monitor_hostname="w.lan",monitor_port="8080"} 7
monitor_status{monitor_id="9",monitor_name="Lost",monitor_type="ping",monitor_url="",monitor_hostname="l.lan",monitor_port=""} NaN
monitor_status{monitor_id="10",monitor_name="Line\nbreak",monitor_type="dns",monitor_url="null",monitor_hostname="d.lan",monitor_port="53",} 3
this line is garbage {{{
monitor_status{monitor_id="11",monitor_name="broken} 1
# HELP monitor_response_time Monitor Response Time (ms)
# TYPE monitor_response_time gauge
monitor_response_time{monitor_id="7",monitor_name="Plex \"Main\" {4K}",monitor_type="http",monitor_url="http://plex.lan:32400/a,b",monitor_hostname="null",monitor_port="null",media="",owner="C:\\Users\\x",window_dressing="y"} 42.5
monitor_response_time{monitor_id="8",monitor_name="Weird",monitor_type="keyword",monitor_url="https://",monitor_hostname="w.lan",monitor_port="8080"} -1
monitor_response_time{monitor_id="9",monitor_name="Lost",monitor_type="ping",monitor_url="",monitor_hostname="l.lan",monitor_port=""} NaN
monitor_uptime_ratio{monitor_id="7",monitor_name="Plex \"Main\" {4K}",monitor_type="http",monitor_url="http://plex.lan:32400/a,b",monitor_hostname="null",monitor_port="null",media="",owner="C:\\Users\\x",window_dressing="y",window="1d"} 0.995
monitor_uptime_ratio{monitor_id="7",monitor_name="Plex \"Main\" {4K}",monitor_type="http",monitor_url="http://plex.lan:32400/a,b",monitor_hostname="null",monitor_port="null",media="",owner="C:\\Users\\x",window_dressing="y",window="30d"} 0.9
some_future_metric{monitor_name="Plex"} +Inf
http_request_duration_seconds_bucket{le="+Inf",route="/metrics"} 3
'''


@pytest.fixture
def kuma(kuma_server: KumaHandle) -> Iterator[KumaHandle]:
    kuma_server.sim.reset()
    yield kuma_server
    kuma_server.sim.reset()


@pytest.fixture(autouse=True)
def fresh_kuma(kuma: KumaHandle) -> None:
    """Every test here starts from the fixtures."""


def _breaker(name: str, fail_max: int = 5, reset_timeout: float = 30) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_timeout, name=name,
                                    exclude=[IntegrationRejected])


def _client(kuma: KumaHandle, name: str, **kwargs) -> UptimeKumaClient:
    kwargs.setdefault("api_key", fixtures.KUMA_API_KEY)
    kwargs.setdefault("timeout", 2.0)
    return UptimeKumaClient(kuma.url, breaker=_breaker(name), **kwargs)


# ---- /metrics ------------------------------------------------------------------------


async def test_metrics_2x_are_keyed_by_monitor_id(kuma: KumaHandle) -> None:
    states = await _client(kuma, "m2").fetch_metrics()
    assert [(s.key, s.monitor_id, s.name) for s in states] == [
        ("1", 1, "Plex"), ("2", 2, "Overseerr"), ("3", 3, "NAS"), ("4", 4, "VPN")]
    plex, overseerr, nas, vpn = states
    assert all(s.status == "up" for s in states)
    assert plex.type == "http" and plex.url == "http://plex.lan:32400/identity"
    assert plex.response_time_ms and plex.response_time_ms > 0
    assert overseerr.uptime_24h == pytest.approx(0.96) and overseerr.uptime_30d == pytest.approx(0.96)
    assert overseerr.tags == {"media": "", "public": "yes"}
    assert (nas.url, nas.hostname, nas.type) == (None, "nas.lan", "ping")
    assert (vpn.hostname, vpn.port) == ("vpn.example.org", 443)


async def test_metrics_1_23_are_keyed_by_name(kuma: KumaHandle) -> None:
    kuma.sim.set_version("1.23")
    kuma.sim.set_status(3, "down")
    states = {s.key: s for s in await _client(kuma, "m1").fetch_metrics()}
    assert set(states) == {"Plex", "Overseerr", "NAS", "VPN"}
    assert all(s.monitor_id is None and s.uptime_24h is None and s.tags == {} for s in states.values())
    assert states["NAS"].status == "down" and states["NAS"].response_time_ms is None


async def test_metrics_follow_maintenance_and_pause(kuma: KumaHandle) -> None:
    client = _client(kuma, "m3")
    kuma.sim.set_status(1, "maintenance")
    kuma.sim.pause(4)
    states = {s.monitor_id: s for s in await client.fetch_metrics()}
    assert states[1].status == "maintenance" and 4 not in states


def test_hand_written_metrics_parse_robustly() -> None:
    samples, names = parse_prometheus(HAND_WRITTEN)
    assert "monitor_status" in names and "some_future_metric" in names
    states = {s.monitor_id: s for s in build_monitor_states(samples)}
    assert sorted(states) == [7, 8, 9, 10]  # the garbage and unterminated lines are skipped
    plex = states[7]
    assert plex.name == 'Plex "Main" {4K}' and plex.url == "http://plex.lan:32400/a,b"
    assert plex.tags == {"media": "", "owner": "C:\\Users\\x", "window_dressing": "y"}
    assert (plex.status, plex.response_time_ms, plex.uptime_24h, plex.uptime_30d) == ("up", 42.5, 0.995, 0.9)
    assert (plex.hostname, plex.port) == (None, None)
    assert states[8].status == "unknown" and states[8].response_time_ms is None  # status 7, ping -1
    assert states[8].url is None and states[8].port == 8080
    assert states[9].status == "unknown" and states[9].response_time_ms is None  # NaN
    assert states[10].name == "Line\nbreak" and states[10].status == "maintenance"
    nan = next(s for s in samples if s.name == "monitor_status" and s.labels["monitor_id"] == "9")
    assert math.isnan(nan.value)


async def test_metrics_401_is_a_clear_rejection(kuma: KumaHandle) -> None:
    with pytest.raises(IntegrationRejected) as info:
        await _client(kuma, "m4", api_key="uk1_" + "x" * 40).fetch_metrics()
    assert info.value.status_code == 401
    assert info.value.user_message == "Uptime Kuma refused the API key."
    assert "uk1_" not in str(info.value)


async def test_metrics_with_username_and_password_when_no_key_exists(kuma: KumaHandle) -> None:
    kuma.sim.set_api_keys_enabled(False)
    client = _client(kuma, "m5", api_key=None, username=fixtures.KUMA_USERNAME, password=fixtures.KUMA_PASSWORD)
    assert len(await client.fetch_metrics()) == 4
    with pytest.raises(IntegrationRejected, match="username or password"):
        await _client(kuma, "m6", api_key=None, username="admin", password="wrong").fetch_metrics()


async def test_metrics_refusing_a_password_once_a_key_exists_says_what_to_do(kuma: KumaHandle) -> None:
    """With an API key in Kuma, /metrics refuses even the right password (which still works for
    the live socket): the card must say to add an API key, not blame the password."""
    client = _client(kuma, "m6b", api_key=None, username=fixtures.KUMA_USERNAME, password=fixtures.KUMA_PASSWORD)
    with pytest.raises(IntegrationRejected) as info:
        await client.fetch_metrics()
    assert info.value.status_code == 401
    assert "Uptime Kuma needs an API key for /metrics once one exists: add it in Settings → API Keys" \
        in info.value.user_message
    assert fixtures.KUMA_PASSWORD not in info.value.user_message


async def test_metrics_500_and_garbage_are_unavailable(kuma: KumaHandle) -> None:
    client = _client(kuma, "m7")
    kuma.sim.set_faults(status=500, times=1)
    with pytest.raises(IntegrationUnavailable) as info:
        await client.fetch_metrics()
    assert info.value.status_code == 500 and info.value.service == "Uptime Kuma"
    kuma.sim.override_response("/metrics", "<html><body>Welcome to nginx!</body></html>\n%%%", times=1)
    with pytest.raises(IntegrationUnavailable, match="no Uptime Kuma metrics"):
        await client.fetch_metrics()
    assert len(await client.fetch_metrics()) == 4


@pytest.mark.parametrize("version", ["1.23", "2.x"])
async def test_server_version_is_the_app_version_gauge_of_metrics(kuma: KumaHandle, version: str) -> None:
    kuma.sim.set_version(version)
    client = _client(kuma, f"m-version-{version}")
    assert await client.server_version() == fixtures.KUMA_VERSIONS[version]
    kuma.sim.override_response("/metrics", HAND_WRITTEN, times=1)  # a /metrics without the gauge
    assert await client.server_version() is None


async def test_outage_times_out_as_unavailable(kuma: KumaHandle) -> None:
    kuma.sim.set_faults(outage=True)
    started = time.monotonic()
    with pytest.raises(IntegrationUnavailable, match="timeout"):
        await _client(kuma, "m8", timeout=0.5).fetch_metrics()
    assert time.monotonic() - started < 3


async def test_breaker_opens_after_failures_and_recovers(kuma: KumaHandle) -> None:
    breaker = _breaker("kuma-breaker", fail_max=2, reset_timeout=0.5)
    client = UptimeKumaClient(kuma.url, api_key=fixtures.KUMA_API_KEY, timeout=2, breaker=breaker)
    kuma.sim.set_faults(status=503)
    for _ in range(2):
        with pytest.raises(IntegrationUnavailable):
            await client.fetch_metrics()
    assert breaker.current_state == "open"
    kuma.sim.clear_faults()
    with pytest.raises(IntegrationUnavailable, match="circuit open"):
        await client.fetch_status_page(SLUG)  # fails fast without calling Kuma
    await asyncio.sleep(0.6)
    assert len(await client.fetch_metrics()) == 4
    assert breaker.current_state == "closed"
    with pytest.raises(IntegrationRejected):  # a 401 is an answer: it does not trip the breaker
        await UptimeKumaClient(kuma.url, api_key="uk1_bad", breaker=breaker).fetch_metrics()
    assert breaker.current_state == "closed"


# ---- status pages --------------------------------------------------------------------


@pytest.mark.parametrize(("version", "count"), [("1.23", 50), ("2.x", 100)])
async def test_status_page_history(kuma: KumaHandle, version: str, count: int) -> None:
    kuma.sim.set_version(version)
    histories = await _client(kuma, f"s-{version}").fetch_status_page(SLUG)
    assert [(h.monitor_id, h.name) for h in histories] == [
        (1, "Plex"), (2, "Overseerr"), (3, "NAS"), (4, "VPN"), (6, "Downloader")]
    plex, overseerr, nas, _, downloader = histories
    assert len(plex.beats) == count and plex.type == "http"
    assert all(b.time.tzinfo is UTC for b in plex.beats)
    assert [b.time for b in plex.beats] == sorted(b.time for b in plex.beats)
    assert abs(plex.beats[-1].time - datetime.now(UTC)) < timedelta(minutes=1)
    assert plex.uptime_24h == 1.0 and 0 < overseerr.uptime_24h < 1
    assert {b.status for b in nas.beats} <= {"up", "pending"}
    assert downloader.beats == [] and downloader.uptime_24h is None
    if version == "2.x":
        assert {b.status for b in overseerr.beats} == {"up", "down"}


async def test_status_page_shows_a_flip_at_once(kuma: KumaHandle) -> None:
    client = _client(kuma, "s-flip")
    await client.fetch_status_page(SLUG)  # fills Kuma's cache
    kuma.sim.set_status(4, "down")
    vpn = next(h for h in await client.fetch_status_page(SLUG) if h.monitor_id == 4)
    assert vpn.beats[-1].status == "down" and vpn.beats[-1].ping_ms is None


async def test_unknown_slug_2x_is_not_found(kuma: KumaHandle) -> None:
    with pytest.raises(IntegrationRejected) as info:
        await _client(kuma, "s-404").fetch_status_page("nope")
    assert info.value.status_code == 404 and "nope" in str(info.value)


async def test_unknown_slug_1_23_times_out(kuma: KumaHandle) -> None:
    kuma.sim.set_version("1.23")
    started = time.monotonic()
    with pytest.raises(IntegrationUnavailable, match="timeout"):
        await _client(kuma, "s-hang", timeout=0.5).fetch_status_page("nope")
    assert time.monotonic() - started < 3


async def test_status_page_html_or_wrong_json_is_unavailable(kuma: KumaHandle) -> None:
    client = _client(kuma, "s-bad")
    kuma.sim.override_response(f"/api/status-page/{SLUG}", "<!DOCTYPE html><html>Uptime Kuma</html>",
                               content_type="text/html", times=1)
    with pytest.raises(IntegrationUnavailable, match="malformed JSON"):
        await client.fetch_status_page(SLUG)
    kuma.sim.override_response(f"/api/status-page/{SLUG}", '{"ok": true}', content_type="application/json", times=1)
    with pytest.raises(IntegrationUnavailable, match="unexpected status page shape"):
        await client.fetch_status_page(SLUG)
    kuma.sim.override_response(f"/api/status-page/heartbeat/{SLUG}", "[1, 2]", content_type="application/json",
                               times=1)
    with pytest.raises(IntegrationUnavailable, match="heartbeats"):
        await client.fetch_status_page(SLUG)


def test_kuma_times_are_utc() -> None:
    assert parse_kuma_time("2025-01-01 10:00:00.123") == datetime(2025, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_kuma_time("2025-01-01T10:00:00Z") == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert parse_kuma_time("yesterday") is None and parse_kuma_time(None) is None


# ---- live connection -----------------------------------------------------------------


class _Events:
    """Collects LiveEvents and waits for matching ones."""

    def __init__(self) -> None:
        self.items: list[LiveEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: LiveEvent) -> None:
        self.items.append(event)
        self._changed.set()

    async def wait_for(self, predicate, timeout: float = 3.0, start: int = 0) -> LiveEvent:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.items[start:]:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event in {[e.kind for e in self.items]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


def _live(url: str, events: _Events, **kwargs) -> KumaLiveConnection:
    kwargs.setdefault("username", fixtures.KUMA_USERNAME)
    kwargs.setdefault("password", fixtures.KUMA_PASSWORD)
    return KumaLiveConnection(url, on_event=events, timeout=2, backoff_initial=0.05, backoff_max=0.2, **kwargs)


async def _stop(conn: KumaLiveConnection, task: asyncio.Task) -> None:
    await conn.stop()
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("version", ["1.23", "2.x"])
async def test_live_connection_sees_a_flip_within_a_second(kuma: KumaHandle, version: str) -> None:
    kuma.sim.set_version(version)
    events = _Events()
    conn = _live(kuma.url, events)
    task = asyncio.ensure_future(conn.run())
    try:
        await events.wait_for(lambda e: e.kind == "connected")
        assert events.items[0].kind == "connected"  # the login burst is held until the login answer
        monitors = await events.wait_for(lambda e: e.kind == "monitors")
        assert [m.monitor_id for m in monitors.monitors] == [1, 2, 3, 4, 5, 6]
        initial = await events.wait_for(lambda e: e.kind == "heartbeat" and e.initial and e.monitor_id == 1)
        assert len(initial.beats) == 100 and initial.status == "up" and initial.time.tzinfo is UTC
        last_stats = await events.wait_for(lambda e: e.kind == "stats" and e.monitor_id == 6
                                           and e.uptime_30d is not None and (version == "1.23" or e.uptime_1y is not None))
        assert last_stats.avg_ping_ms is None
        stats = [e for e in events.items if e.kind == "stats" and e.monitor_id == 2]
        assert stats[-1].uptime_24h == pytest.approx(0.96) and stats[-1].avg_ping_ms > 0
        assert (stats[-1].uptime_1y is not None) is (version == "2.x")
        assert conn.server_version == fixtures.KUMA_VERSIONS[version]
        assert conn.token == kuma.sim.token

        seen = len(events.items)
        started = time.monotonic()
        kuma.sim.set_status(1, "down", msg="connect ECONNREFUSED")
        beat = await events.wait_for(lambda e: e.kind == "heartbeat" and not e.initial, timeout=1.0, start=seen)
        assert time.monotonic() - started < 1.0
        assert (beat.monitor_id, beat.status, beat.ping_ms, beat.important) == (1, "down", None, True)
        assert beat.msg == "connect ECONNREFUSED" and beat.time.tzinfo is UTC
        # avgPing comes first, then the fresh uptimes; each stats event carries every value known so far.
        after = await events.wait_for(lambda e: e.kind == "stats" and e.monitor_id == 1
                                      and e.uptime_24h is not None and e.uptime_24h < 1, start=seen)
        assert after.avg_ping_ms is not None and after.uptime_30d == 1.0
        assert {m.monitor_id: m.status for m in conn.monitor_states()}[1] == "down"
    finally:
        await _stop(conn, task)


async def test_live_connection_logs_in_only_after_kumas_first_info(kuma: KumaHandle) -> None:
    """Kuma 2.x silently drops a login sent before its first ``info``: wait for it, then log in
    once (no dropped login, no timeout, no reconnect)."""
    kuma.sim.configure(first_info_delay_seconds=1.0)
    events = _Events()
    conn = _live(kuma.url, events)  # each call times out after 2 s
    task = asyncio.ensure_future(conn.run())
    started = time.monotonic()
    try:
        await events.wait_for(lambda e: e.kind == "connected", timeout=1.9)
        assert 1.0 <= time.monotonic() - started < 1.9
        await events.wait_for(lambda e: e.kind == "monitors")
        assert kuma.sim.state()["logged_in_sockets"] == 1
    finally:
        await _stop(conn, task)


async def test_live_connection_reconnects_after_the_server_drops_it(kuma: KumaHandle) -> None:
    events = _Events()
    conn = _live(kuma.url, events)
    task = asyncio.ensure_future(conn.run())
    try:
        await events.wait_for(lambda e: e.kind == "connected")
        await events.wait_for(lambda e: e.kind == "stats" and e.monitor_id == 6 and e.uptime_1y is not None)
        assert await asyncio.to_thread(kuma.sim.disconnect_all_sockets) == 1
        dropped = await events.wait_for(lambda e: e.kind == "disconnected")
        assert dropped.error is None
        index = events.items.index(dropped)
        await events.wait_for(lambda e: e.kind == "connected", start=index)
        await events.wait_for(lambda e: e.kind == "stats" and e.monitor_id == 6 and e.uptime_1y is not None,
                              start=index)
        seen = len(events.items)
        kuma.sim.set_status(2, "down")
        beat = await events.wait_for(lambda e: e.kind == "heartbeat" and not e.initial, timeout=1.0, start=seen)
        assert (beat.monitor_id, beat.status) == (2, "down")
    finally:
        await _stop(conn, task)


async def test_live_connection_reports_a_refused_login(kuma: KumaHandle) -> None:
    kuma.sim.refuse_socket_logins(True)
    events = _Events()
    conn = _live(kuma.url, events, token=kuma.sim.token)
    with pytest.raises(KumaLoginRefused) as info:
        await asyncio.wait_for(conn.run(), 5)
    assert info.value.status_code == 401 and info.value.service == "Uptime Kuma"
    assert fixtures.KUMA_PASSWORD not in str(info.value)
    assert [e.kind for e in events.items] == ["disconnected"] and events.items[0].error
    kuma.sim.refuse_socket_logins(False)
    with pytest.raises(KumaLoginRefused):
        await asyncio.wait_for(_live(kuma.url, _Events(), password="wrong").run(), 5)


async def test_live_connection_uses_a_saved_token_without_password(kuma: KumaHandle) -> None:
    events = _Events()
    conn = KumaLiveConnection(kuma.url, on_event=events, token=kuma.sim.token, timeout=2)
    task = asyncio.ensure_future(conn.run())
    try:
        await events.wait_for(lambda e: e.kind == "monitors")
    finally:
        await _stop(conn, task)
    with pytest.raises(KumaLoginRefused, match="no password"):
        await asyncio.wait_for(KumaLiveConnection(kuma.url, on_event=_Events(), token="bad.jwt.x").run(), 5)


async def test_live_connection_retries_an_unreachable_server_until_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections are refused
    events = _Events()
    conn = _live(f"http://127.0.0.1:{port}", events)
    task = asyncio.ensure_future(conn.run())
    await asyncio.sleep(0.4)
    assert not task.done()
    await _stop(conn, task)
    assert events.items == []
    delays = [conn.backoff_delay(n) for n in range(8)]
    assert all(d <= 0.2 for d in delays) and delays[0] < delays[2]
