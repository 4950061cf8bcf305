"""The audit log as the admin reads it (PostgreSQL): filters by action, group, user and inclusive
dates in the admin's time zone, 50 rows a page newest first, and the CSV (same filters, cells a
spreadsheet cannot run, no credential)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from medianest.db import session_scope
from medianest.errors import ValidationFailed
from medianest.models import Role
from medianest.services import audit, audit_views
from medianest.services.audit_views import AuditFilter
from tests.factories import make_audit, make_user

T0 = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)


async def _people(db):
    alice = make_user(db, username="alice", role=Role.ADMIN)
    bob = make_user(db, username="bob")
    carol = make_user(db, username="carol")
    await db.flush()
    return alice, bob, carol


async def test_rows_come_newest_first_fifty_a_page_and_a_page_past_the_end_gives_the_last(db):
    alice, _, _ = await _people(db)
    for i in range(120):
        make_audit(db, "login.plex", actor=alice, target=f"user:{alice.id}", created_at=T0 + timedelta(minutes=i))
    await db.commit()

    first = await audit_views.audit_page(db, AuditFilter(), page=1)
    assert (first.total, first.pages, len(first.rows)) == (120, 3, 50)
    assert first.rows[0].when_utc == "2025-03-29T13:59:00Z"  # the newest: T0 + 119 minutes
    stamps = [r.when_utc for r in first.rows]
    assert stamps == sorted(stamps, reverse=True)
    assert first.rows[0].actor == "alice" and first.rows[0].target == "alice"
    assert first.rows[0].label == "Signed in with Plex"

    last = await audit_views.audit_page(db, AuditFilter(), page=99)
    assert (last.page, len(last.rows)) == (3, 20)
    assert last.rows[-1].when_utc == "2025-03-29T12:00:00Z"
    second = await audit_views.audit_page(db, AuditFilter(), page=2)
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}


async def test_filters_by_action_group_and_user_as_actor_or_target(db):
    alice, bob, carol = await _people(db)
    make_audit(db, "login.plex", actor=bob, target=f"user:{bob.id}", created_at=T0)
    make_audit(db, "login.refused", target=f"user:{carol.id}", created_at=T0, reason="suspended")
    make_audit(db, "login.local_failed", target="local:admin", created_at=T0)
    make_audit(db, "user.suspend", actor=alice, target=f"user:{carol.id}", created_at=T0)
    make_audit(db, "user.role", actor=alice, target=f"user:{bob.id}", created_at=T0, role="admin")
    make_audit(db, "request.decline", actor=alice, target="request:7", created_at=T0)
    make_audit(db, "download.removed", actor=bob, target="download:3", created_at=T0)
    make_audit(db, "overseerr.import_user", actor=alice, target=str(carol.id), created_at=T0)
    make_audit(db, "config_updated_weirdly", actor=alice, created_at=T0)  # an action no group names
    await db.commit()

    async def actions(**kwargs) -> list[str]:
        found = await audit_views.audit_page(db, audit_views.parse_filter(**kwargs))
        return sorted(r.action for r in found.rows)

    assert await actions(action="user.role") == ["user.role"]
    assert await actions(action="group:refusals") == ["login.local_failed", "login.refused"]
    assert await actions(action="group:accounts") == ["overseerr.import_user", "user.role", "user.suspend"]
    assert await actions(action="group:signins") == ["login.plex"]
    assert await actions(action="group:requests") == ["request.decline"]
    assert await actions(action="group:downloads") == ["download.removed"]
    # Carol did nothing herself; everything done to her is hers.
    assert await actions(user=str(carol.id)) == ["login.refused", "overseerr.import_user", "user.suspend"]
    assert await actions(user=str(bob.id)) == ["download.removed", "login.plex", "user.role"]
    assert await actions(user=str(bob.id), action="group:accounts") == ["user.role"]
    refused = (await audit_views.audit_page(db, audit_views.parse_filter(action="login.refused"))).rows[0]
    assert (refused.actor, refused.target, refused.details) == ("", "carol", "reason: suspended")

    choices = {c.value: c.label for c in await audit_views.action_choices(db)}
    assert choices["all"] == "Every action" and choices["group:refusals"] == "Refusals (all)"
    assert choices["config_updated_weirdly"] == "config_updated_weirdly"  # present in the log, so offered
    assert choices["sessions.revoke_all"] == "Everyone signed out"  # known, offered before it ever happened


async def test_dates_are_inclusive_days_in_the_admins_time_zone(db):
    alice, _, _ = await _people(db)
    # Paris: 2025-03-30 starts at 2025-03-29 23:00 UTC and, daylight saving beginning, ends at 22:00 UTC.
    for label, at in (("before", datetime(2025, 3, 29, 22, 59, tzinfo=UTC)),
                      ("first", datetime(2025, 3, 29, 23, 0, tzinfo=UTC)),
                      ("last", datetime(2025, 3, 30, 21, 59, 59, tzinfo=UTC)),
                      ("after", datetime(2025, 3, 30, 22, 0, tzinfo=UTC))):
        make_audit(db, f"test.{label}", actor=alice, created_at=at)
    await db.commit()

    paris = audit_views.parse_filter(date_from="2025-03-30", date_to="2025-03-30", time_zone="Europe/Paris")
    page = await audit_views.audit_page(db, paris)
    assert [r.action for r in page.rows] == ["test.last", "test.first"]
    assert page.rows[0].when == "2025-03-30 23:59:59" and page.time_zone == "Europe/Paris"

    utc = await audit_views.audit_page(db, audit_views.parse_filter(date_from="2025-03-30", date_to="2025-03-30"))
    assert [r.action for r in utc.rows] == ["test.after", "test.last"]
    only_from = await audit_views.audit_page(db, audit_views.parse_filter(date_from="2025-03-30",
                                                                           time_zone="Europe/Paris"))
    assert {r.action for r in only_from.rows} == {"test.first", "test.last", "test.after"}
    assert audit_views.day_bounds(date(2025, 3, 30), "Europe/Paris")[1] - \
        audit_views.day_bounds(date(2025, 3, 30), "Europe/Paris")[0] == timedelta(hours=23)


def test_a_filter_the_page_would_not_send_is_refused_and_an_unknown_zone_is_utc():
    for kwargs in ({"action": "group:nope"}, {"action": "DROP TABLE"}, {"user": "²"}, {"user": "-1"},
                   {"date_from": "yesterday"}, {"date_from": "2025-03-02", "date_to": "2025-03-01"}):
        with pytest.raises(ValidationFailed):
            audit_views.parse_filter(**kwargs)
    assert audit_views.parse_filter(time_zone="Mars/Olympus").time_zone == "UTC"
    assert audit_views.parse_filter(time_zone="../../etc/passwd").time_zone == "UTC"
    assert audit_views.parse_filter(time_zone="America/New_York").time_zone == "America/New_York"


async def _csv(chosen: AuditFilter) -> list[list[str]]:
    text = "".join([chunk async for chunk in audit_views.csv_chunks(session_scope, chosen)])
    return list(csv.reader(io.StringIO(text)))


async def test_csv_has_every_matching_row_newest_first_with_the_pages_filters(db, monkeypatch):
    monkeypatch.setattr(audit_views, "EXPORT_BATCH", 7)  # several batches
    alice, bob, _ = await _people(db)
    for i in range(30):
        make_audit(db, "login.plex" if i % 2 else "request.approve", actor=bob if i % 3 else alice,
                   created_at=T0 + timedelta(hours=i))
    await db.commit()

    rows = await _csv(AuditFilter(time_zone="Europe/Paris"))
    assert rows[0] == ["Time (UTC)", "Time (Europe/Paris)", "Action", "What", "By", "Target", "Details", "IP address",
                       "Correlation id"]
    assert len(rows) == 31
    assert [r[0] for r in rows[1:]] == sorted((r[0] for r in rows[1:]), reverse=True)
    assert rows[1][:2] == ["2025-03-30T17:00:00Z", "2025-03-30 19:00:00"]  # T0 + 29 h; Paris is UTC+2 by then

    chosen = audit_views.parse_filter(action="login.plex", user=str(bob.id), date_from="2025-03-29",
                                      date_to="2025-03-29")
    on_page = await audit_views.audit_page(db, chosen)
    exported = await _csv(chosen)
    assert [r[0] for r in exported[1:]] == [r.when_utc for r in on_page.rows]
    assert {r[2] for r in exported[1:]} == {"login.plex"} and {r[4] for r in exported[1:]} == {"bob"}


async def test_csv_cells_cannot_run_as_formulas_and_hold_no_credential(db):
    admin = make_user(db, username="@admin", role=Role.ADMIN)
    await db.flush()
    make_audit(db, "=cmd|' /C calc'!A0", actor=admin, target="+SUM(A1:A9)", created_at=T0,
               client_ip="-1+1", note="@risky")
    make_audit(db, "login.refused", target="-2+3", created_at=T0 + timedelta(seconds=1),
               username="=HYPERLINK(\"http://evil.example\")")
    # Written as before the scrubbing (an old row, or one a careless caller made): still nothing leaks.
    make_audit(db, "config.updated", actor=admin, created_at=T0 + timedelta(seconds=2),
               api_key="sk-live-0123456789abcdef", overseerr_token="abcdef123456",
               header="Authorization: Bearer abcdefghijklmnop", enabled=True)
    await db.commit()

    rows = await _csv(AuditFilter())
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    by_action = {r[2]: r for r in rows[1:]}
    formula = by_action["'=cmd|' /C calc'!A0"]
    assert formula[4] == "'@admin" and formula[5] == "'+SUM(A1:A9)" and formula[7] == "'-1+1"
    assert by_action["login.refused"][5] == "'-2+3"
    text = "\n".join(",".join(r) for r in rows)
    for secret in ("sk-live-0123456789abcdef", "abcdef123456", "abcdefghijklmnop"):
        assert secret not in text
    assert '"api_key": "[redacted]"' in by_action["config.updated"][6]
    assert '"enabled": true' in by_action["config.updated"][6]  # a flag tells nothing: it stays
    page = await audit_views.audit_page(db, audit_views.parse_filter(action="config.updated"))
    assert "sk-live" not in page.rows[0].details and "api_key: [redacted]" in page.rows[0].details
    assert audit_views.safe_cell("plain") == "plain" and audit_views.safe_cell("") == ""


async def test_record_never_stores_a_credential(db):
    await audit.record(db, "config.updated", target="service:overseerr", api_key="sk-secret-value-123",
                       password="hunter2hunter2", url="http://user:pw-in-url@overseerr.lan",
                       changed=["api_key", "url"], enabled=False)
    await db.commit()
    page = await audit_views.audit_page(db, AuditFilter())
    stored = page.rows[0].details
    assert "sk-secret" not in stored and "hunter2" not in stored and "pw-in-url" not in stored
    assert "changed: [\"api_key\", \"url\"]" in stored and "enabled: false" in stored
