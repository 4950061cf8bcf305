"""Status service on PostgreSQL: current state, history, changes, uptime, staleness, pruning."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from medianest.integrations.plex import PlexServerClient
from medianest.models import ServiceStatusHistory, utcnow
from medianest.services import service_status as ss


def up(key="plex", name="Plex", ms=12, **kw):
    return ss.CheckResult(key=key, name=name, status="up", response_time_ms=ms, **kw)


def down(key="plex", name="Plex", **kw):
    return ss.CheckResult(key=key, name=name, status="down", message=f"{name} is not answering.", **kw)


async def test_first_record_is_a_change_from_nothing_then_only_real_changes(db):
    now = utcnow()
    first = await ss.record(db, [up()], now=now)
    assert [(c.key, c.old, c.new) for c in first] == [("plex", None, "up")]
    assert await ss.record(db, [up(ms=15)], now=now + timedelta(seconds=60)) == []
    changed = await ss.record(db, [down()], now=now + timedelta(seconds=120))
    assert [(c.name, c.old, c.new) for c in changed] == [("Plex", "up", "down")]
    assert changed[0].since == now + timedelta(seconds=120)


async def test_history_uptime_and_sparkline(db):
    now = utcnow()
    for i, result in enumerate([up(ms=10), up(ms=20), down(), up(ms=30)]):
        await ss.record(db, [result], now=now + timedelta(minutes=i))
    await db.commit()
    (card,) = await ss.board(db, interval_s=60, now=now + timedelta(minutes=3, seconds=5))
    assert card.status == "up" and not card.stale
    assert card.uptime_24h == 0.75 and card.uptime_30d == 0.75
    assert card.history_ms == [10, 20, 30]
    assert card.status_since == now + timedelta(minutes=3)
    rows = (await db.exec(select(ServiceStatusHistory))).all()
    assert len(rows) == 4


async def test_pending_and_maintenance_do_not_count_against_uptime(db):
    now = utcnow()
    await ss.record(db, [up()], now=now)
    await ss.record(db, [ss.CheckResult(key="plex", name="Plex", status="maintenance")], now=now + timedelta(minutes=1))
    await db.commit()
    (card,) = await ss.board(db, interval_s=60, now=now + timedelta(minutes=1))
    assert card.uptime_24h == 1.0 and card.status == "maintenance"


async def test_kuma_uptime_is_taken_as_reported(db):
    await ss.record(db, [up(key="kuma:3", source="kuma", uptime_24h=0.9987, uptime_30d=0.95)])
    await db.commit()
    (card,) = await ss.board(db, interval_s=60)
    assert (card.uptime_24h, card.uptime_30d, card.source) == (0.9987, 0.95, "kuma")


async def test_data_older_than_three_intervals_is_stale(db):
    now = utcnow()
    await ss.record(db, [up()], now=now)
    await db.commit()
    (fresh,) = await ss.board(db, interval_s=60, now=now + timedelta(seconds=179))
    (stale,) = await ss.board(db, interval_s=60, now=now + timedelta(seconds=181))
    assert not fresh.stale and stale.stale


async def test_unknown_status_values_are_kept_as_unknown(db):
    await ss.record(db, [ss.CheckResult(key="x", name="X", status="exploded")])
    await db.commit()
    (card,) = await ss.board(db, interval_s=60)
    assert card.status == "unknown"


async def test_prune_drops_only_old_history(db):
    now = utcnow()
    await ss.record(db, [up()], now=now - timedelta(days=10))
    await ss.record(db, [up()], now=now)
    removed = await ss.prune_history(db, keep_days=7, now=now)
    await db.commit()
    assert removed == 1
    assert len((await db.exec(select(ServiceStatusHistory))).all()) == 1


async def test_forget_missing_kuma_monitors(db):
    await ss.record(db, [up(key="kuma:1", name="NAS", source="kuma"), up(key="kuma:2", name="VPN", source="kuma"),
                         up()])
    await ss.forget_missing(db, keep_keys={"kuma:1"}, source="kuma")
    await db.commit()
    assert {c.key for c in await ss.board(db, interval_s=60)} == {"kuma:1", "plex"}


async def test_timed_check_against_the_pms_simulator(plex):
    server = PlexServerClient(plex.pms_url, token=None, client_id="t", timeout=2)
    result = await ss.timed_check("plex", "Plex", server.identity, url=plex.pms_url)
    assert result.status == "up" and result.response_time_ms is not None
    plex.sim.set_faults("pms", status=503)
    failed = await ss.timed_check("plex", "Plex", server.identity)
    assert failed.status == "down" and failed.message == "Plex is not answering."


async def test_one_failing_check_does_not_hide_the_others():
    async def boom():
        raise RuntimeError("bug")

    async def fine():
        return up()

    results = await ss.run_checks([boom, fine])
    assert [r.key for r in results] == ["plex"]


async def test_a_live_kuma_beat_keeps_kumas_uptime_instead_of_our_count(db):
    """A live beat comes without uptime: the card keeps Kuma's figures (it used to show our own
    count of the beats we saw, and the next /metrics poll put Kuma's back)."""
    now = utcnow()
    await ss.record(db, [up(key="kuma:3", name="NAS", source="kuma", uptime_24h=0.9987, uptime_30d=0.95)], now=now)
    await ss.record(db, [down(key="kuma:3", name="NAS", source="kuma")], now=now + timedelta(seconds=20))
    await ss.record(db, [up(key="kuma:3", name="NAS", source="kuma")], now=now + timedelta(seconds=40))
    await db.commit()
    (card,) = await ss.board(db, interval_s=60, now=now + timedelta(seconds=41))
    assert (card.status, card.uptime_24h, card.uptime_30d) == ("up", 0.9987, 0.95)


async def test_a_kuma_monitor_without_kumas_figures_shows_no_uptime_of_ours(db):
    now = utcnow()
    for i, result in enumerate([up(key="kuma:NAS", name="NAS", source="kuma"),
                                down(key="kuma:NAS", name="NAS", source="kuma")]):
        await ss.record(db, [result], now=now + timedelta(minutes=i))
    await db.commit()
    (card,) = await ss.board(db, interval_s=60, now=now + timedelta(minutes=1))
    assert (card.uptime_24h, card.uptime_30d) == (None, None)


async def test_kumas_socket_uptime_updates_the_card(db):
    await ss.record(db, [up(key="kuma:3", name="NAS", source="kuma", uptime_24h=0.99, uptime_30d=0.95), up()])
    assert await ss.record_kuma_uptime(db, "kuma:3", uptime_24h=0.98123, uptime_30d=None) is True
    assert await ss.record_kuma_uptime(db, "kuma:3", uptime_24h=0.98123, uptime_30d=0.95) is False  # no change
    assert await ss.record_kuma_uptime(db, "kuma:9", uptime_24h=0.5, uptime_30d=0.5) is False  # no such card
    assert await ss.record_kuma_uptime(db, "plex", uptime_24h=0.5, uptime_30d=0.5) is False  # not Kuma's
    await db.commit()
    cards = {c.key: c for c in await ss.board(db, interval_s=60)}
    assert (cards["kuma:3"].uptime_24h, cards["kuma:3"].uptime_30d) == (0.9812, 0.95)
    assert cards["plex"].uptime_24h == 1.0


async def test_two_kuma_monitors_with_one_name_are_two_cards(db):
    from medianest.integrations.uptime_kuma import MonitorState

    def monitor(monitor_id, status):
        return MonitorState(key=str(monitor_id), monitor_id=monitor_id, name="NAS", type="ping", url=None,
                            status=status, response_time_ms=None, uptime_24h=None, uptime_30d=None)

    await ss.record(db, [ss.from_kuma(monitor(3, "up")), ss.from_kuma(monitor(4, "down"))])
    await ss.record(db, [ss.from_kuma(monitor(3, "up")), ss.from_kuma(monitor(4, "down"))])
    await db.commit()
    cards = await ss.board(db, interval_s=60)
    assert [(c.key, c.name, c.status) for c in cards] == [("kuma:3", "NAS", "up"), ("kuma:4", "NAS", "down")]
    # 1.23's /metrics has no ids: by name, as before.
    assert ss.kuma_key(None, "NAS") == "kuma:NAS"


async def test_forget_drops_only_the_given_cards(db):
    await ss.record(db, [down(key=ss.KUMA_ITSELF, name="Uptime Kuma"), up()])
    await ss.forget(db, {ss.KUMA_ITSELF})
    await db.commit()
    assert [c.key for c in await ss.board(db, interval_s=60)] == ["plex"]
