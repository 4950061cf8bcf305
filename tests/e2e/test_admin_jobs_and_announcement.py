"""The admin console's Jobs page in a real Chromium, in production mode (Redis, two web workers, a
Taskiq worker and the scheduler): Run now on the request sync shows the run running and finished
live."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

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

    # Overseerr answers slowly now, so each sync runs for a few seconds and "running" can be seen.
    overseerr_sim.sim.set_faults(latency_ms=3000, path_prefix="/api/v1/request")
    try:
        clicked = datetime.now(UTC)
        row.locator(".job-run-now").click()
        expect(page.get_by_text("Request sync was started.")).to_be_visible()
        manual = row.locator(".job-manual")
        expect(manual).to_have_attribute("data-state", "running", timeout=10_000)
        expect(manual.locator(".job-manual-state")).to_have_text("Running")
        expect(manual).to_have_attribute("data-state", "success", timeout=20_000)
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
    expect(page.locator("#queue-note")).to_contain_text("From the task stream: 1 worker(s)")
