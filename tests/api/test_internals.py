"""/metrics and /health: who may read what, and labels that no client can grow."""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydantic import SecretStr

from medianest import api, metrics
from medianest.config import get_settings
from medianest.models import Role
from tests.api.route_settings import route_modules
from tests.factories import make_session, make_user

TOKEN = "metrics-token-for-tests-0123456789"


def _client() -> httpx.AsyncClient:
    app = api.security_middleware(api.build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def production(monkeypatch):
    """The routes see production settings with a METRICS_TOKEN (or without one: ``set(None)``)."""
    holder = {"settings": get_settings().model_copy(update={"env": "production", "metrics_token": SecretStr(TOKEN)})}
    for module in route_modules():
        if hasattr(module, "get_settings"):
            monkeypatch.setattr(module, "get_settings", lambda: holder["settings"])

    def set_token(value: str | None) -> None:
        holder["settings"] = holder["settings"].model_copy(
            update={"metrics_token": SecretStr(value) if value else None})
    return set_token


async def _session_cookie(db, role: Role) -> str:
    user = make_user(db, role=role, is_local=True)
    await db.flush()
    token = await make_session(db, user, remember=False)
    await db.commit()
    return token


async def test_metrics_need_the_bearer_token_in_production(database_url, production):
    async with _client() as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert "medianest_" not in anonymous.text + wrong.text
    assert right.status_code == 200 and "medianest_active_sessions" in right.text


async def test_metrics_answer_404_in_production_without_a_token(database_url, production):
    production(None)
    async with _client() as client:
        response = await client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404 and "medianest_" not in response.text


async def test_metrics_stay_open_in_development_without_a_token(database_url):
    assert not get_settings().is_production and get_settings().metrics_token is None
    async with _client() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200 and "medianest_http_requests_total" in response.text


async def test_health_tells_a_stranger_only_healthy_or_not(db, production):
    member = await _session_cookie(db, Role.USER)
    admin = await _session_cookie(db, Role.ADMIN)
    async with _client() as client:
        anonymous = await client.get("/health")
        as_member = await client.get("/health", cookies={api.SESSION_COOKIE: member})
        with_token = await client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"})
        as_admin = await client.get("/health", cookies={api.SESSION_COOKIE: admin})
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    assert as_member.json() == {"status": "ok"}
    for detailed in (with_token, as_admin):
        assert detailed.status_code == 200 and detailed.json()["checks"]["database"]["status"] == "up"


async def test_health_still_answers_503_to_a_stranger(database_url, production, monkeypatch):
    broken = get_settings().model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/nothing"})
    monkeypatch.setattr("medianest.db.get_settings", lambda: broken)
    async with _client() as client:
        response = await client.get("/health")
    assert response.status_code == 503 and response.json() == {"status": "error"}


def _series(collector) -> set[tuple]:
    return {tuple(sorted(s.labels.items())) for family in collector.collect() for s in family.samples}


async def test_random_requests_add_no_metric_series(database_url):
    async with _client() as client:
        await client.get("/health")  # the labels MediaNest's own routes use exist already
        for method in ("GET", "POST", "BREW"):  # and the one series per method for everything else
            await client.request(method, "/warm-up-unknown")
        before = _series(metrics.HTTP_REQUESTS) | _series(metrics.HTTP_SECONDS)
        for i in range(30):
            await client.request(["GET", "POST", f"X{i}"][i % 3], f"/{secrets.token_hex(6)}/{i}")
    after = _series(metrics.HTTP_REQUESTS) | _series(metrics.HTTP_SECONDS)
    assert after - before == set(), f"new series from random paths: {sorted(after - before)[:5]}"
    labels = {dict(s).get("route") for s in after}
    assert "other" in labels and labels <= {f"/{r}" for r in metrics.KNOWN_ROUTES} | {"/", "/_reflex", "other"}


def test_event_handler_label_is_a_handler_the_app_defines():
    from medianest.state import SessionState  # noqa: F401 - registers the states

    assert metrics.handler_label("SessionState.sign_out") == "SessionState.sign_out"
    assert metrics.handler_label("SessionState.made_up_by_a_client") == "other"
