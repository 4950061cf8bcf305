"""HTTP routes: /health with its checks, security headers and correlation ids, and the
sign-in routes' answers to bad input."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from medianest import api
from medianest.config import get_settings
from medianest.log import JsonFormatter, new_correlation_id
from tests.api.route_settings import use_settings


def _client(app=None) -> httpx.AsyncClient:
    app = app or api.security_middleware(api.build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_health_ok_with_database_and_redis(database_url):
    async with _client() as client:
        response = await client.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "up" and body["checks"]["database"]["critical"]
    assert body["checks"]["redis"]["status"] == "up"


async def test_health_503_when_database_is_down(database_url, monkeypatch):
    broken = get_settings().model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/nothing"})
    monkeypatch.setattr("medianest.db.get_settings", lambda: broken)
    async with _client() as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"status": "down", "critical": True}


async def test_health_503_when_redis_is_down(database_url, monkeypatch):
    from medianest.wiring import Registry

    broken = get_settings().model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    use_settings(monkeypatch, broken, Registry(broken))
    async with _client() as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "down"


async def test_security_headers_and_request_id(database_url):
    async with _client() as client:
        response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["x-request-id"] == "abc-123"


async def test_unexpected_error_returns_reference_not_stack_trace():
    async def boom(scope, receive, send):
        raise RuntimeError("secret internals")

    async with _client(api.security_middleware(boom)) as client:
        response = await client.get("/anything")
    assert response.status_code == 500
    body = response.json()
    assert body["reference"] == response.headers["x-request-id"]
    assert "secret internals" not in response.text


async def test_session_route_rejects_bad_ticket_with_a_plain_message(database_url):
    async with _client() as client:
        response = await client.get("/auth/session", params={"ticket": "forged", "next": "//evil.example"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?") and "expired%20or%20was%20already%20used" in location
    assert "evil" not in location
    assert "mn_session" not in response.headers.get("set-cookie", "")


async def test_plex_start_when_plex_is_down_explains(database_url, plex, monkeypatch):
    from medianest.wiring import Registry

    settings = get_settings().model_copy(update={"plex_tv_url": plex.plex_tv_url, "http_timeout_s": 1.0})
    use_settings(monkeypatch, settings, Registry(settings))
    plex.sim.set_faults("plex_tv", status=503)
    async with _client() as client:
        response = await client.get("/auth/plex/start", params={"next": "/admin"})
    assert response.status_code == 303
    assert "Plex%20is%20not%20answering" in response.headers["location"]
    assert "next=%2Fadmin" in response.headers["location"]


async def test_plex_start_sets_pin_cookie_and_redirects_to_plex(database_url, plex, monkeypatch):
    from medianest.wiring import Registry

    settings = get_settings().model_copy(update={"plex_tv_url": plex.plex_tv_url,
                                                 "plex_auth_url": f"{plex.plex_tv_url}/auth"})
    use_settings(monkeypatch, settings, Registry(settings))
    async with _client() as client:
        response = await client.get("/auth/plex/start", params={"next": "/admin", "remember": "1"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{plex.plex_tv_url}/auth#?")
    cookie = response.headers["set-cookie"]
    assert "mn_pin=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


@pytest.mark.parametrize(("peer", "forwarded", "hops", "expected"), [
    ("10.0.0.1", "1.2.3.4", 0, "10.0.0.1"),            # not behind a proxy: the header is ignored
    ("10.0.0.1", "1.2.3.4", 1, "1.2.3.4"),
    ("10.0.0.1", "6.6.6.6, 1.2.3.4", 1, "1.2.3.4"),    # a forged entry on the left does not count
    ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", 2, "1.2.3.4"),
])
def test_client_ip_respects_trusted_proxy_hops(peer, forwarded, hops, expected):
    assert api.client_ip_from(peer, forwarded, hops) == expected


def test_cookie_value_parses_and_tolerates_junk():
    assert api.cookie_value("a=1; mn_session=tok.en-x; b=2", "mn_session") == "tok.en-x"
    assert api.cookie_value(None, "mn_session") is None
    assert api.cookie_value('bad"cookie', "mn_session") is None


def test_json_log_lines_carry_the_correlation_id():
    cid = new_correlation_id()
    record = logging.LogRecord("medianest.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.correlation_id = cid
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world" and line["correlation_id"] == cid and line["level"] == "info"


async def test_health_lists_breakers_as_non_critical(database_url):
    import pybreaker

    from medianest.integrations.base import breaker_for

    breaker = breaker_for("health-test-service", fail_max=1)
    with pytest.raises((ValueError, pybreaker.CircuitBreakerError)), breaker.calling():
        raise ValueError("boom")
    try:
        async with _client() as client:
            response = await client.get("/health")
        entry = response.json()["checks"]["breaker:health-test-service"]
        assert entry == {"status": "degraded", "critical": False, "state": "open"}
        assert response.status_code == 200  # an open breaker does not make MediaNest unhealthy
    finally:
        breaker.close()
