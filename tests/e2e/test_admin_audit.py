"""Admin → Audit in a browser whose time zone is Auckland: the rows newest first, filters by action
family, by user and by dates (inclusive days in the browser's zone), and the CSV download with
the same filters."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC, datetime

import psycopg
from playwright.sync_api import expect

from tests.e2e.conftest import setup_household

# 11:30 UTC on 10 January is 00:30 on 11 January in Auckland (UTC+13 in summer).
LATE_IN_UTC = datetime(2025, 1, 10, 11, 30, tzinfo=UTC)


def _add_row(action: str, *, at: datetime, actor: int | None = None, target: str | None = None, **details) -> None:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("INSERT INTO audit_log (created_at, actor_user_id, action, target, details) "
                     "VALUES (%s, %s, %s, %s, %s::json)", (at, actor, action, target, json.dumps(details)))


def _choose(page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_admin_reads_filters_and_downloads_the_audit_log(journeys):
    alice = journeys(timezone_id="Pacific/Auckland")
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")
    mallory = journeys()
    mallory.sign_in_with_plex("mallory")
    expect(mallory.page.locator("#denied-title")).to_be_visible()
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        ids = dict(conn.execute("SELECT username, id FROM users").fetchall())
    _add_row("download.removed", at=LATE_IN_UTC, actor=ids["bob"], target="=HYPERLINK(\"http://evil.example\")",
             title="@SUM(1+1)")

    page = alice.page
    page.goto("/admin/audit")
    expect(page.locator("#audit-time-zone")).to_contain_text("Pacific/Auckland")
    rows = page.locator("#audit-rows .audit-row")
    # Newest first: mallory's refusal, bob's sign-in, alice's choice of server, her sign-in, the old removal.
    expect(rows.first.locator(".audit-action")).to_contain_text("Sign-in refused")
    expect(rows.nth(1).locator(".audit-action")).to_contain_text("Signed in with Plex")
    expect(rows.nth(1).locator(".audit-actor")).to_have_text("bob")
    expect(rows.last.locator(".audit-when")).to_have_text("2025-01-11 00:30:00")  # shown in Auckland time
    expect(page.locator("#audit-total")).to_have_text("5 entries")

    _choose(page, "#audit-action-filter", "Refusals (all)")
    expect(page.locator("#audit-total")).to_have_text("1 entry")
    expect(rows.first.locator(".audit-details")).to_contain_text("reason: no_access")

    _choose(page, "#audit-action-filter", "Every action")
    _choose(page, "#audit-user-filter", "bob")
    expect(page.locator("#audit-total")).to_have_text("2 entries")

    # 11 January in Auckland holds the removal; 10 January (Auckland) does not, though it is its UTC date.
    page.locator("#audit-from").fill("2025-01-10")
    page.locator("#audit-to").fill("2025-01-10")
    expect(page.locator("#no-audit-rows")).to_be_visible()
    page.locator("#audit-from").fill("2025-01-11")
    page.locator("#audit-to").fill("2025-01-11")
    expect(page.locator("#audit-total")).to_have_text("1 entry")
    expect(rows.first.locator(".audit-action")).to_contain_text("Download removed")

    with page.expect_download() as download_info:
        page.locator("#audit-csv").click()
    download = download_info.value
    assert download.suggested_filename.startswith("medianest-audit-") and download.suggested_filename.endswith(".csv")
    exported = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert exported[0][:2] == ["Time (UTC)", "Time (Pacific/Auckland)"]
    assert len(exported) == 2, exported  # the same filters as the page: bob, download removals of 11 January
    row = exported[1]
    assert row[:5] == ["2025-01-10T11:30:00Z", "2025-01-11 00:30:00", "download.removed", "Download removed", "bob"]
    assert row[5] == "'=HYPERLINK(\"http://evil.example\")"  # a spreadsheet shows it, does not run it
    assert '"title": "@SUM(1+1)"' in row[6]
    expect(page).to_have_url(re.compile(r"/admin/audit/?$"))  # the download left the page where it was

    # Exporting is audited too; clearing the filters shows it first.
    page.locator("#audit-clear").click()
    expect(rows.first.locator(".audit-action")).to_contain_text("Audit log exported")
