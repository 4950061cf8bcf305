"""Runs last among the browser tests: it restarts Redis and the Taskiq worker under an open
dashboard, and the dashboard recovers without a reload."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import STACK, setup_household

NAS = "#status-kuma-3"  # Kuma monitor 3, keyed by id


def test_dashboard_recovers_after_worker_and_redis_restart(journeys, kuma_sim, private_redis):
    alice = journeys()
    setup_household(alice)
    page = alice.page
    expect(page.locator(NAS)).to_have_text("Up", timeout=15_000)
    page.evaluate("window.__marker = 'no reload'")

    private_redis.restart()  # empties Reflex's state, the task stream and the live event stream
    STACK.restart_worker()

    kuma_sim.sim.set_status(3, "down", msg="No route to host")
    # The page re-links within one keepalive (15 s), the bridge and the worker reconnect by themselves.
    expect(page.locator(NAS)).to_have_text("Down", timeout=40_000)
    expect(page.locator("#welcome-name")).to_have_text("alice")  # the dashboard was never lost
    kuma_sim.sim.set_status(3, "up", ping=10)
    expect(page.locator(NAS)).to_have_text("Up", timeout=10_000)
    assert page.evaluate("window.__marker") == "no reload"


def test_cards_turn_stale_when_no_check_arrives_and_recover(journeys, kuma_sim):
    kuma_sim.sim.set_status(3, "up", ping=10)  # whatever the test before left
    alice = journeys()
    setup_household(alice)
    page = alice.page
    expect(page.locator(NAS)).to_have_text("Up", timeout=15_000)
    STACK.stop("scheduler")  # no more checks (the interval here is 1 s)
    try:
        expect(page.locator(NAS)).to_have_text("Stale", timeout=15_000)
        expect(page.locator("#outage-kuma-3")).to_have_count(0)  # stale data is not claimed as current
    finally:
        STACK.start("scheduler")
    expect(page.locator(NAS)).to_have_text("Up", timeout=15_000)
