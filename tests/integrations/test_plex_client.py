"""The plex.tv / PMS clients against the simulators: shapes, and failures mapped at the edge."""

from __future__ import annotations

import pybreaker
import pytest

from medianest.errors import IntegrationRejected, IntegrationUnavailable
from medianest.integrations.base import breaker_for
from medianest.integrations.plex import PlexServerClient, PlexTvClient
from medianest.simulators import fixtures

HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"


def _client(plex, **kwargs) -> PlexTvClient:
    return PlexTvClient(plex.plex_tv_url, client_id="medianest-test", **kwargs)


async def test_pin_account_and_servers(plex):
    client = _client(plex)
    pin = await client.create_pin()
    assert len(pin.code) >= 20 and pin.auth_token is None
    plex.sim.approve_pin(pin.id, "bob")
    approved = await client.get_pin(pin.id)
    assert approved.auth_token
    account = await client.get_account(approved.auth_token)
    assert (account.id, account.username) == (1002, "bob")
    servers = await client.get_servers(approved.auth_token)
    household = [s for s in servers if s.client_identifier == HOUSEHOLD]
    assert household and not household[0].owned and household[0].source_title == "alice"
    assert household[0].best_uri() == plex.pms_url


async def test_owner_sees_owned_servers_and_no_players(plex):
    servers = await _client(plex).get_servers("sim-alice-token")
    assert {s.name for s in servers if s.owned} == {"Household", "Alice's Laptop"}
    assert all("iPhone" not in s.name for s in servers)


async def test_unknown_pin_is_none(plex):
    assert await _client(plex).get_pin(987654321) is None


async def test_bad_token_is_rejected_not_unavailable(plex):
    with pytest.raises(IntegrationRejected) as info:
        await _client(plex).get_account("not-a-token")
    assert info.value.status_code == 401


async def test_server_error_maps_to_unavailable(plex):
    plex.sim.set_faults("plex_tv", status=500, times=1)
    with pytest.raises(IntegrationUnavailable) as info:
        await _client(plex, breaker=pybreaker.CircuitBreaker(fail_max=5, name="t1")).create_pin()
    assert info.value.service == "plex.tv"
    assert "not answering" in info.value.user_message


async def test_hang_times_out_as_unavailable(plex):
    plex.sim.set_faults("plex_tv", outage=True)
    with pytest.raises(IntegrationUnavailable, match="timeout"):
        await _client(plex, timeout=0.5, breaker=pybreaker.CircuitBreaker(fail_max=5, name="t2")).create_pin()


async def test_breaker_opens_after_failures_and_recovers(plex):
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=0.5, name="t3",
                                       exclude=[IntegrationRejected])
    client = _client(plex, breaker=breaker)
    plex.sim.set_faults("plex_tv", status=503)
    for _ in range(2):
        with pytest.raises(IntegrationUnavailable):
            await client.create_pin()
    assert breaker.current_state == "open"
    plex.sim.clear_faults()
    with pytest.raises(IntegrationUnavailable, match="circuit open"):
        await client.create_pin()  # still open: fails fast without calling plex.tv
    import asyncio
    await asyncio.sleep(0.6)
    assert (await client.create_pin()).code
    assert breaker.current_state == "closed"


async def test_rejections_do_not_trip_the_breaker(plex):
    breaker = breaker_for("plex.tv-test-rejections", fail_max=1)
    client = _client(plex, breaker=breaker)
    for _ in range(3):
        with pytest.raises(IntegrationRejected):
            await client.get_account("bad")
    assert breaker.current_state == "closed"


async def test_pms_identity(plex):
    server = PlexServerClient(plex.pms_url, token=None, client_id="medianest-test")
    assert await server.identity() == HOUSEHOLD
    assert await server.version() == fixtures.PMS_VERSION  # shown on Admin → System
