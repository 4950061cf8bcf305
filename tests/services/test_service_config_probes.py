""""Test connection" on every card, against the simulators over HTTP: a plain sentence for each
outcome, nothing saved, and the service's real circuit breaker untouched."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr
from sqlmodel import select

from medianest import wiring
from medianest.config import get_settings
from medianest.integrations.base import breaker_for
from medianest.integrations.plex import PlexTvClient
from medianest.launcher import SIMULATED_KUMA
from medianest.models import AuditLog, ServiceConfig
from medianest.services import service_config, system
from medianest.services.service_config import FieldInvalid
from medianest.simulators import fixtures
from tests.factories import as_member, make_user

WRONG_OVERSEERR_KEY = "V3JvbmdLZXlGb3JUZXN0czAxMjM0NTY3ODlhYmNkZWZnaGlqa2xt"


@pytest.fixture(autouse=True)
def fresh_registry():
    wiring.reset_registry()
    yield
    wiring.reset_registry()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _try(db, service: str, form: dict, env=None):
    registry = wiring.Registry(env or get_settings().model_copy(update={"http_timeout_s": 3.0}))
    return await service_config.try_connection(db, service=service, form={"service": service, **form},
                                               env=env or registry.settings, encryptor=registry.encryptor,
                                               clients=registry.probes())


async def test_overseerr_connected_refused_or_absent(db, overseerr_server):
    overseerr_server.sim.reset()
    ok = await _try(db, "overseerr", {"overseerr_url": overseerr_server.url,
                                      "overseerr_api_key": fixtures.OVERSEERR_API_KEY})
    assert ok.ok and ok.message == "Connected to Overseerr 1.34.0 as alice."
    refused = await _try(db, "overseerr", {"overseerr_url": overseerr_server.url,
                                           "overseerr_api_key": WRONG_OVERSEERR_KEY})
    assert not refused.ok and refused.message == ("Overseerr 1.34.0 answers at that address, but it refused the "
                                                  "API key.")
    nothing = await _try(db, "overseerr", {"overseerr_url": f"http://127.0.0.1:{_closed_port()}",
                                           "overseerr_api_key": fixtures.OVERSEERR_API_KEY})
    assert not nothing.ok and nothing.message == "Nothing answers at that address."
    no_key = await _try(db, "overseerr", {"overseerr_url": overseerr_server.url})
    assert not no_key.ok and "no API key is set" in no_key.message
    # Tests save nothing and leave the real breaker alone.
    assert (await db.exec(select(ServiceConfig))).all() == []
    assert breaker_for("Overseerr").current_state == "closed"


async def test_something_else_at_the_address_is_named(db, kuma_server):
    other = await _try(db, "overseerr", {"overseerr_url": kuma_server.url,
                                         "overseerr_api_key": fixtures.OVERSEERR_API_KEY})
    assert other.message == "Something answers at that address, but it is not Overseerr."


async def test_a_test_with_an_invalid_value_names_the_field(db):
    with pytest.raises(FieldInvalid) as refused:
        await _try(db, "overseerr", {"overseerr_url": "not an address"})
    assert refused.value.field == "overseerr_url"


async def test_uptime_kuma_connected_or_refused(db, kuma_server):
    kuma_server.sim.reset()
    good = await _try(db, "uptime_kuma", {"uptime_kuma_url": kuma_server.url,
                                          "uptime_kuma_api_key": SIMULATED_KUMA["UPTIME_KUMA_API_KEY"],
                                          "uptime_kuma_username": SIMULATED_KUMA["UPTIME_KUMA_USERNAME"],
                                          "uptime_kuma_password": SIMULATED_KUMA["UPTIME_KUMA_PASSWORD"],
                                          "uptime_kuma_status_page": fixtures.KUMA_STATUS_PAGE_SLUG})
    assert good.ok, good.message
    assert good.message.startswith("Connected to Uptime Kuma") and "signed in as admin" in good.message
    assert "status page “household”" in good.message
    refused = await _try(db, "uptime_kuma", {"uptime_kuma_url": kuma_server.url,
                                             "uptime_kuma_api_key": "uk1_ThisKeyIsNotKnownToKuma0123"})
    assert not refused.ok and refused.message == "Uptime Kuma refused the API key."
    wrong_password = await _try(db, "uptime_kuma", {
        "uptime_kuma_url": kuma_server.url, "uptime_kuma_api_key": SIMULATED_KUMA["UPTIME_KUMA_API_KEY"],
        "uptime_kuma_username": "admin", "uptime_kuma_password": "not-the-password"})
    assert not wrong_password.ok and "refused the username or password" in wrong_password.message


async def test_plex_household_or_another_server(db, plex):
    await system.set_household_server(db, system.HouseholdServer(
        machine_id=fixtures.HOUSEHOLD_MACHINE_ID, name=fixtures.HOUSEHOLD_NAME, url=plex.pms_url, owner_plex_id=1))
    encryptor = wiring.get_registry().encryptor
    await system.put_value(db, "household_server_token", {"token": encryptor.encrypt(plex.sim.owner.token)})
    await db.commit()
    ok = await _try(db, "plex", {"plex_url": ""})
    assert ok.ok and ok.message == ("Connected to the household's Plex server Household; downloads go to its "
                                    "“YouTube” library.")
    missing = await _try(db, "plex", {"plex_downloads_library": "Home videos"})
    assert not missing.ok and "has no library named “Home videos”" in missing.message
    await system.set_household_server(db, system.HouseholdServer(
        machine_id=fixtures.LAPTOP_MACHINE_ID, name="Alice's Laptop", url=plex.pms_url, owner_plex_id=1))
    await db.commit()
    other = await _try(db, "plex", {"plex_url": plex.pms_url})
    assert not other.ok and other.message == "That address is a Plex server but not the household's."


async def test_downloads_folder_and_free_space(db, tmp_path):
    env = get_settings().model_copy(update={"downloads_allowed_hosts": "videos.example.org"})
    ok = await _try(db, "downloads", {"downloads_root": str(tmp_path)}, env)
    assert ok.ok and ok.message.startswith(f"MediaNest can write in {tmp_path}, with ")
    assert "YouTube, videos.example.org" in ok.message
    full = await _try(db, "downloads", {"downloads_root": str(tmp_path), "downloads_min_free_mb": "10000000"}, env)
    assert not full.ok and "are free: new videos wait" in full.message


async def test_a_test_takes_the_saved_secret_when_the_field_is_left_empty(db, overseerr_server):
    overseerr_server.sim.reset()
    env = get_settings().model_copy(update={"overseerr_url": overseerr_server.url,
                                            "overseerr_api_key": SecretStr(fixtures.OVERSEERR_API_KEY),
                                            "http_timeout_s": 3.0})
    result = await _try(db, "overseerr", {"overseerr_api_key": ""}, env)
    assert result.ok, result.message


async def test_another_household_server_drops_the_address_saved_for_the_old_one(db, plex):
    registry = wiring.Registry(get_settings())
    encryptor = registry.encryptor
    owner = plex.sim.owner
    alice = make_user(db, username="alice", role="admin", plex_id=owner.id,
                      plex_token_encrypted=encryptor.encrypt(owner.token))
    await db.commit()
    admin = as_member(alice)
    await service_config.save(db, actor=admin, service="plex", form={"plex_url": plex.pms_url}, env=registry.settings,
                              encryptor=encryptor)
    await db.commit()
    plex_tv = PlexTvClient(plex.plex_tv_url, client_id="medianest-test", timeout=3.0)
    chosen = await service_config.choose_household(db, actor=admin, machine_id=fixtures.LAPTOP_MACHINE_ID,
                                                   plex_tv=plex_tv, encryptor=encryptor)
    await db.commit()
    assert chosen.name == fixtures.LAPTOP_NAME
    assert (await system.household_server(db)).machine_id == fixtures.LAPTOP_MACHINE_ID
    assert (await service_config.load(db, encryptor)).values == {}
    actions = [(r.action, r.target) for r in (await db.exec(select(AuditLog).order_by(AuditLog.id))).all()]
    assert actions == [("service_config.changed", "plex.plex_url"),
                       ("setup.household_server", fixtures.LAPTOP_MACHINE_ID),
                       ("service_config.changed", "plex.plex_url")]
