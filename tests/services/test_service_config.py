"""Admin → Services on PostgreSQL: saved secrets encrypted (and rotated), invalid values refused
with the field named and nothing half-saved, an audit row per change without the secret, masking,
the environment as fallback, and a change applied at once in another process through Redis."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import select

from medianest import config_version, wiring
from medianest.config import get_settings
from medianest.errors import Forbidden
from medianest.integrations.base import breaker_for
from medianest.log import redact
from medianest.models import AuditLog, DownloadState, MediaRequest, ServiceConfig, YoutubeDownload
from medianest.security import Encryptor
from medianest.services import media_requests, service_config
from medianest.services.service_config import FieldInvalid
from medianest.simulators import fixtures
from tests.conftest import ROOT
from tests.factories import as_member, make_request, make_user

KEY = "MTczNTY4OTYwMDAwMGZyZXNoLWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OTRm4f2a"
OTHER_KEY = "MTczNTY4OTYwMDAwMG90aGVyLWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OWJiYmI"


@pytest.fixture(autouse=True)
def fresh_registry():
    wiring.reset_registry()
    yield
    wiring.reset_registry()


@pytest.fixture
def env():
    """The environment: Overseerr at an address with a key of its own."""
    return get_settings().model_copy(update={
        "overseerr_url": "http://overseerr.env:5055", "overseerr_api_key": SecretStr("ENVKEY" + "x" * 30 + "9c1d")})


def _key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


async def _admin(db, name: str = "alice"):
    user = make_user(db, username=name, role="admin")
    await db.commit()
    return as_member(user)


async def _save(db, admin, service: str, form: dict, env, encryptor: Encryptor):
    result = await service_config.save(db, actor=admin, service=service, form=form, env=env, encryptor=encryptor)
    await db.commit()
    return result


async def test_a_saved_secret_is_encrypted_at_rest_and_read_back(db, env):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    await _save(db, admin, "overseerr", {"service": "overseerr", "overseerr_api_key": KEY}, env, encryptor)
    row = (await db.exec(select(ServiceConfig))).one()
    assert row.service_name == "overseerr" and row.secrets_encrypted and KEY not in row.secrets_encrypted
    assert KEY not in str(row.extra) and row.url is None
    stored = await service_config.load(db, encryptor)
    assert stored.values == {"overseerr_api_key": KEY}
    effective = service_config.effective(env, stored)
    assert effective.secret_value("overseerr_api_key") == KEY
    assert redact(f"sent {KEY} upstream") == "sent [redacted] upstream"  # no log line shows it
    assert effective.overseerr_url == "http://overseerr.env:5055"  # not saved: the environment's


async def test_saved_secrets_follow_a_key_rotation(db, env):
    old, new = _key(secrets.token_bytes(32)), _key(secrets.token_bytes(32))
    admin = await _admin(db)
    await _save(db, admin, "overseerr", {"service": "overseerr", "overseerr_api_key": KEY}, env, Encryptor(old))
    rotating = Encryptor(f"{new},{old}")
    assert (await service_config.load(db, rotating)).values["overseerr_api_key"] == KEY  # the old key still reads
    assert await service_config.rotate_secrets(db, rotating) == 1
    await db.commit()
    assert await service_config.rotate_secrets(db, rotating) == 0  # already under the newest key
    assert (await service_config.load(db, Encryptor(new))).values["overseerr_api_key"] == KEY
    # Without any key that wrote it, the saved secret is not used and the card says so.
    unreadable = await service_config.load(db, Encryptor(old))
    assert unreadable.values == {} and unreadable.unreadable == {"overseerr"}
    cards = await service_config.cards(db, env=env, encryptor=Encryptor(old))
    assert "cannot be read" in cards[1].warning


@pytest.mark.parametrize(("service", "form", "field", "words"), [
    ("overseerr", {"overseerr_url": "overseerr:5055"}, "overseerr_url", "not a web address"),
    ("overseerr", {"overseerr_url": "ftp://overseerr"}, "overseerr_url", "not a web address"),
    ("overseerr", {"overseerr_url": "http://admin:pw@overseerr"}, "overseerr_url", "leave names and passwords out"),
    ("overseerr", {"overseerr_api_key": "has spaces in it, not a key"}, "overseerr_api_key", "wrong shape"),
    ("overseerr", {"overseerr_webhook_secret": "short"}, "overseerr_webhook_secret", "wrong shape"),
    ("uptime_kuma", {"uptime_kuma_api_key": "0123456789abcdef"}, "uptime_kuma_api_key", "uk1_"),
    ("uptime_kuma", {"uptime_kuma_status_page": "my page!"}, "uptime_kuma_status_page", "wrong shape"),
    ("downloads", {"downloads_root": "/no/such/folder"}, "downloads_root", "does not exist"),
    ("downloads", {"downloads_root": "relative/path"}, "downloads_root", "not a full path"),
    ("downloads", {"downloads_root": "/proc/self"}, "downloads_root", "cannot write"),
    ("downloads", {"downloads_allowed_hosts": "videos.example.org, https://bad/"}, "downloads_allowed_hosts",
     "not a host name"),
    ("downloads", {"downloads_concurrency": "40"}, "downloads_concurrency", "from 1 to 16"),
    ("downloads", {"downloads_per_hour": "lots"}, "downloads_per_hour", "not a whole number"),
    ("downloads", {"downloads_quality": "4k"}, "downloads_quality", "choose one of"),
])
async def test_invalid_values_are_refused_with_the_field_named_and_nothing_is_saved(db, env, service, form, field,
                                                                                   words):
    admin = await _admin(db)
    # A valid change comes first in the same form: it must not be saved either.
    valid = {"overseerr": {"overseerr_url": "http://good.example:5055"},
             "uptime_kuma": {"uptime_kuma_url": "http://kuma.example:3001"},
             "downloads": {"downloads_per_hour": "9"}}[service]
    with pytest.raises(FieldInvalid) as refused:
        await service_config.save(db, actor=admin, service=service, form={**valid, **form}, env=env,
                                  encryptor=wiring.get_registry().encryptor)
    await db.rollback()
    assert refused.value.field == field and words in refused.value.user_message
    label = service_config.fields.BY_ATTR[field].label
    assert refused.value.user_message.startswith(f"{service_config.SERVICES[service]} · {label}: ")
    assert (await db.exec(select(ServiceConfig))).all() == []
    assert (await db.exec(select(AuditLog))).all() == []


async def test_every_change_writes_an_audit_row_naming_the_field_never_the_secret(db, env, tmp_path):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    await _save(db, admin, "overseerr", {"overseerr_url": "http://overseerr.lan:5055/", "overseerr_api_key": KEY,
                                         "overseerr_webhook_secret": ""}, env, encryptor)
    await _save(db, admin, "overseerr", {"overseerr_api_key": OTHER_KEY}, env, encryptor)
    await _save(db, admin, "overseerr", {"clear:overseerr_api_key": "on"}, env, encryptor)
    await _save(db, admin, "downloads", {"downloads_root": str(tmp_path), "downloads_concurrency": "3"}, env,
                encryptor)
    rows = (await db.exec(select(AuditLog).order_by(AuditLog.id))).all()
    seen = [(r.action, r.target, r.details["change"], r.actor_user_id) for r in rows]
    assert seen == [
        ("service_config.changed", "overseerr.overseerr_url", "changed", admin.id),
        ("service_config.changed", "overseerr.overseerr_api_key", "replaced", admin.id),
        ("service_config.changed", "overseerr.overseerr_api_key", "replaced", admin.id),
        ("service_config.changed", "overseerr.overseerr_api_key", "back to the environment", admin.id),
        ("service_config.changed", "downloads.downloads_root", "changed", admin.id),
        ("service_config.changed", "downloads.downloads_concurrency", "changed", admin.id),
    ]
    assert rows[0].details["old"] == "http://overseerr.env:5055"
    assert rows[0].details["new"] == "http://overseerr.lan:5055"  # a trailing slash is dropped
    assert rows[5].details == {"service": "YouTube downloads", "field": "Videos at once per worker",
                               "change": "changed", "old": "2", "new": "3"}
    everything = " ".join(f"{r.target} {r.details}" for r in rows)
    assert KEY not in everything and OTHER_KEY not in everything and "9c1d" not in everything
    assert all(r.created_at is not None for r in rows)
    # Saving the same values again changes nothing and writes nothing.
    again = await _save(db, admin, "downloads", {"downloads_root": str(tmp_path), "downloads_concurrency": "3"},
                        env, encryptor)
    assert again.changes == () and again.message == "Nothing changed."
    assert len((await db.exec(select(AuditLog))).all()) == 6


async def test_cards_mask_secrets_and_say_where_each_value_comes_from(db, env):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    await _save(db, admin, "overseerr", {"overseerr_api_key": KEY, "overseerr_webhook_secret": "s3cret-webhook-value"},
                env, encryptor)
    cards = {c.service: c for c in await service_config.cards(db, env=env, encryptor=encryptor)}
    assert list(cards) == ["plex", "overseerr", "uptime_kuma", "downloads"]
    fields = {f.attr: f for f in cards["overseerr"].fields}
    key = fields["overseerr_api_key"]
    assert key.secret_state == "set · ends in …4f2a" and key.value == "" and key.source == "saved here"
    assert fields["overseerr_webhook_secret"].secret_state == "set · ends in …alue"
    url = fields["overseerr_url"]
    assert url.value == "http://overseerr.env:5055" and url.source == "environment"
    assert url.source_note == "from OVERSEERR_URL in the environment"
    assert KEY not in repr(cards) and "s3cret-webhook-value" not in repr(cards)
    quality = {f.attr: f for f in cards["downloads"].fields}["downloads_quality"]
    assert quality.source == "default" and quality.value == "best" and len(quality.options) == 5
    assert "by alice" in cards["overseerr"].saved_note and cards["overseerr"].has_saved
    assert service_config.mask("short") == "set" and service_config.mask("") == "not set"


async def test_clearing_a_secret_brings_the_environment_value_back(db, env):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    await _save(db, admin, "overseerr", {"overseerr_api_key": KEY, "overseerr_url": "http://saved:5055"}, env,
                encryptor)
    await _save(db, admin, "overseerr", {"clear:overseerr_api_key": "on", "overseerr_url": ""}, env, encryptor)
    assert (await db.exec(select(ServiceConfig))).all() == []  # nothing left saved: no row
    effective = service_config.effective(env, await service_config.load(db, encryptor))
    assert effective.secret_value("overseerr_api_key").endswith("9c1d")
    assert effective.overseerr_url == "http://overseerr.env:5055"
    # "Use the environment's values" drops a whole card.
    await _save(db, admin, "uptime_kuma", {"uptime_kuma_url": "http://kuma:3001", "uptime_kuma_username": "me"},
                env, encryptor)
    assert await service_config.forget(db, actor=admin, service="uptime_kuma", encryptor=encryptor) == 2
    await db.commit()
    assert (await service_config.load(db, encryptor)).values == {}


async def test_members_cannot_save(db, env):
    member = make_user(db, username="bob")
    await db.commit()
    with pytest.raises(Forbidden):
        await service_config.save(db, actor=as_member(member), service="overseerr", form={"overseerr_url": "http://x"},
                                  env=env, encryptor=wiring.get_registry().encryptor)


async def test_the_downloads_folder_waits_for_downloads_under_way(db, env, tmp_path):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    db.add(YoutubeDownload(user_id=admin.id, url="https://www.youtube.com/watch?v=x", title="x", kind="video",
                           folder="alice/x", status=DownloadState.RUNNING.value))
    await db.commit()
    with pytest.raises(FieldInvalid) as refused:
        await service_config.save(db, actor=admin, service="downloads", form={"downloads_root": str(tmp_path)},
                                  env=env, encryptor=encryptor)
    assert refused.value.field == "downloads_root" and "1 download is still under way" in refused.value.user_message
    await db.rollback()
    # Other download settings may change meanwhile.
    assert (await _save(db, admin, "downloads", {"downloads_concurrency": "1"}, env, encryptor)).changes


async def test_a_save_reaches_this_process_at_once_and_rebuilds_the_breaker(db, monkeypatch):
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    await wiring.start_configuration()
    breaker = breaker_for("Overseerr")
    breaker.open()
    listener_runs = []

    async def listener() -> None:
        listener_runs.append(True)
        await wiring.refresh_registry()

    config_version.add_listener(listener)
    try:
        await _save(db, admin, "overseerr", {"overseerr_url": "http://new.example:5055"}, get_settings(), encryptor)
        await config_version.bump()
    finally:
        config_version.remove_listener(listener)
    assert listener_runs and wiring.get_registry().settings.overseerr_url == "http://new.example:5055"
    assert "overseerr_url" in wiring.get_registry().saved
    assert breaker_for("Overseerr") is breaker and breaker.current_state == "closed" and breaker.fail_counter == 0
    assert wiring.get_registry().overseerr().base_url == "http://new.example:5055"


async def test_embedded_mode_applies_a_save_in_process(db, monkeypatch):
    """No Redis: the version lives in the process and saving calls the listeners directly."""
    embedded = get_settings().model_copy(update={"redis_url": None})
    monkeypatch.setattr(config_version, "get_settings", lambda: embedded)
    monkeypatch.setattr(wiring, "get_settings", lambda: embedded)
    admin = await _admin(db)
    await wiring.start_configuration()
    stop = asyncio.Event()
    watcher = asyncio.create_task(wiring.keep_current(stop))
    await asyncio.sleep(0.05)
    before = await config_version.current()
    await _save(db, admin, "downloads", {"downloads_per_hour": "11"}, embedded, wiring.get_registry().encryptor)
    await config_version.bump()
    assert await config_version.current() != before
    assert wiring.get_registry().settings.downloads_per_hour == 11
    stop.set()
    await watcher


_WATCHER = """
import asyncio, sys, time
from medianest import wiring

async def main():
    await wiring.start_configuration()
    stop = asyncio.Event()
    task = asyncio.create_task(wiring.keep_current(stop))
    print("ready", wiring.get_registry().settings.overseerr_url, flush=True)
    while wiring.get_registry().settings.overseerr_url != sys.argv[1]:
        await asyncio.sleep(0.005)
    registry = wiring.get_registry()
    print("seen", time.time(), registry.settings.secret_value("overseerr_api_key")[-4:], flush=True)
    stop.set()
    await task

asyncio.run(main())
"""


async def test_a_save_is_used_by_a_second_process_within_a_second_through_redis(db):
    """Another process (a web or task worker) follows the version announced through Redis."""
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    target = f"http://elsewhere-{secrets.token_hex(3)}.example:5055"
    child = subprocess.Popen([sys.executable, "-c", _WATCHER, target], cwd=ROOT, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout=60)
        assert ready.startswith("ready"), child.stderr.read() if child.poll() is not None else ready
        assert target not in ready
        started = time.time()
        await _save(db, admin, "overseerr", {"overseerr_url": target, "overseerr_api_key": KEY}, get_settings(),
                    encryptor)
        await config_version.bump()
        seen = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout=10)
        _, at, last4 = seen.split()
        assert last4 == "4f2a"  # the secret too, decrypted with the shared key
        assert float(at) - started < 1.0
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()


async def test_a_queued_request_survives_a_wrong_key_and_goes_out_with_the_right_one(db, overseerr_server):
    """A configuration change never drops a member's queued request."""
    overseerr_server.sim.reset()
    env = get_settings().model_copy(update={"overseerr_url": overseerr_server.url, "http_timeout_s": 3.0,
                                            "overseerr_api_key": SecretStr(fixtures.OVERSEERR_API_KEY)})
    encryptor = wiring.get_registry().encryptor
    admin = await _admin(db)
    bob = make_user(db, username="bob", plex_id=1002)
    await db.commit()
    row = make_request(db, bob, title="Dune", tmdb_id=438631)
    await db.commit()
    await _save(db, admin, "overseerr", {"overseerr_api_key": OTHER_KEY}, env, encryptor)
    wrong = wiring.Registry(service_config.effective(env, await service_config.load(db, encryptor)))
    outcome = await media_requests.deliver(db, row.id, wrong.overseerr())
    assert outcome.row.status == "queued" and "API key" in (outcome.row.last_error or "")
    await _save(db, admin, "overseerr", {"overseerr_api_key": fixtures.OVERSEERR_API_KEY}, env, encryptor)
    right = wiring.Registry(service_config.effective(env, await service_config.load(db, encryptor)))
    await db.exec(sa.update(MediaRequest).where(MediaRequest.id == row.id).values(next_attempt_at=None))
    await db.commit()
    outcome = await media_requests.deliver(db, row.id, right.overseerr())
    assert outcome.row.status == "pending" and outcome.row.overseerr_request_id


async def test_the_env_example_lists_every_field():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [spec.env for spec in service_config.FIELDS if spec.env not in text]
    assert missing == []
    assert Path(ROOT / "README.md").read_text(encoding="utf-8").count("/admin/services") >= 1
