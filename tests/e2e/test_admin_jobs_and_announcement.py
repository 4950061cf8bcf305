"""The admin console's Jobs page and announcement in a real Chromium, in production mode (Redis,
two web workers, a Taskiq worker and the scheduler): Run now on the request sync shows the run
waiting, running and finished live; an announcement reaches a member's open page live and leaves
it at its end time, decided by the server (the admin and the member are in other time zones)."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from playwright.sync_api import expect

from tests.e2e.conftest import Journey, setup_household

DUNE = "movie-438631"


def _member(journeys, name: str, **context_args) -> Journey:
    journey = journeys(**context_args)
    journey.sign_in_with_plex(name)
    expect(journey.page.locator("#welcome-name")).to_have_text(name, timeout=30_000)
    return journey


def _audit(action: str) -> list[tuple[str, str]]:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        return conn.execute("SELECT action, target FROM audit_log WHERE action = %s ORDER BY id", (action,)).fetchall()


def test_run_now_on_the_request_sync(journeys, overseerr_sim):
    alice = journeys()
    setup_household(alice)
    # Bob's pending request gives the sync something to ask Overseerr about.
    bob = _member(journeys, "bob")
    bob.page.goto("/search")
    bob.page.locator("#search-input").fill("dune")
    card = bob.page.locator(f'.search-result[data-key="{DUNE}"]')
    card.locator(".request-button").click()
    expect(bob.page.get_by_text("Dune was requested and is waiting for approval.")).to_be_visible()

    page = alice.page
    page.goto("/admin/jobs")
    row = page.locator("#job-requests-sync")
    expect(row.locator(".job-every")).to_have_text("every 2 s", timeout=30_000)
    # The scheduler sends it every 2 s in these tests: a scheduled run has finished, the next is due.
    expect(row.locator(".job-outcome")).to_have_text("Success", timeout=15_000)
    expect(row.locator(".job-trigger")).to_have_text("scheduled")
    expect(row.locator(".job-next")).to_be_visible()
    expect(row.locator(".job-manual")).to_have_count(0)
    page.evaluate("window.__marker = 'no reload'")

    # Overseerr answers slowly now, so each sync runs for seconds and "running" can be seen.
    overseerr_sim.sim.set_faults(latency_ms=5000, path_prefix="/api/v1/request")
    try:
        clicked = datetime.now(UTC)
        row.locator(".job-run-now").click()
        expect(page.get_by_text("Request sync was started.")).to_be_visible()
        manual = row.locator(".job-manual")
        expect(manual).to_have_attribute("data-state", "running", timeout=12_000)
        expect(manual.locator(".job-manual-state")).to_have_text("Running")
        expect(manual).to_have_attribute("data-state", "success", timeout=30_000)
        expect(manual.locator(".job-manual-state")).to_have_text("Success")
    finally:
        overseerr_sim.sim.clear_faults()
    started = datetime.fromisoformat(manual.get_attribute("data-at"))
    assert clicked - timedelta(seconds=2) <= started <= clicked + timedelta(seconds=10)
    assert page.evaluate("window.__marker") == "no reload"
    assert _audit("job.run_now") == [("job.run_now", "task:requests.sync")]
    # Every schedule is listed, and the queue says where its figures come from.
    for task in ("status-check", "requests-sync", "requests-deliver", "downloads-sync", "status-prune",
                 "sessions-prune", "downloads-watchdog"):
        expect(page.locator(f"#job-{task}")).to_have_count(1)
    expect(page.locator("#queue-note")).to_contain_text(re.compile(r"From the task stream: [1-9]\d* worker"))


def test_an_announcement_appears_live_on_bobs_open_page_and_disappears_at_its_end_time(journeys):
    alice = journeys(timezone_id="America/New_York")
    setup_household(alice)
    bob = _member(journeys, "bob", timezone_id="Asia/Tokyo")
    banner = bob.page.locator("#announcement-banner")
    expect(banner).to_have_count(0)
    bob.page.evaluate("window.__marker = 'no reload'")

    page = alice.page
    page.goto("/admin/announcement")
    page.locator("#announcement-message").fill("Plex restarts for an update.")
    page.locator("#announcement-level").click()
    page.get_by_role("option", name="Warning").click()
    # Alice picks the end in her own local time, as the field shows it. (Posting and the checks
    # below take about 4 s; the rest of the 15 s is spare, for a slow machine.)
    ends = (datetime.now(ZoneInfo("America/New_York")) + timedelta(seconds=15)).replace(microsecond=0)
    page.locator("#announcement-ends").fill(ends.strftime("%Y-%m-%dT%H:%M:%S"))
    page.locator("#announcement-post").click()
    expect(page.get_by_text("The announcement is showing on every page.")).to_be_visible()
    posted_at = time.time()

    expect(banner).to_contain_text("Plex restarts for an update.", timeout=3_000)
    assert time.time() - posted_at < 3
    expect(banner).to_have_class(re.compile(r"announcement-warning"))
    # Bob sees the end in his own local time.
    expect(banner.locator(".announcement-until")).to_contain_text(
        ends.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M"))
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        (stored,) = conn.execute("SELECT ends_at FROM announcements WHERE removed_at IS NULL").fetchone()
    assert stored == ends.astimezone(UTC)
    expect(page.locator("#announcement-banner")).to_be_visible()  # the admin's own page too

    # Still there shortly before the end, gone at the end, without a reload.
    time.sleep(max(0.0, ends.timestamp() - 3 - time.time()))
    expect(banner).to_be_visible()
    expect(banner).to_have_count(0, timeout=15_000)
    late = time.time() - ends.timestamp()
    assert -1.0 <= late < 4.0, f"the banner left {late:.1f} s after its end"
    assert bob.page.evaluate("window.__marker") == "no reload"
    expect(page.locator("#announcement-banner")).to_have_count(0)

    # A page opened after the end shows no banner; the admin's list says it ended.
    carol = _member(journeys, "carol")
    expect(carol.page.locator("#announcement-banner")).to_have_count(0)
    page.reload()
    expect(page.locator("#announcement-history .announcement-state").first).to_have_text("ended", timeout=15_000)
    assert [a for a, _t in _audit("announcement.post")] == ["announcement.post"]
