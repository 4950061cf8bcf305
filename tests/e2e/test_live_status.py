"""Live status in the production configuration (Taskiq worker + scheduler, Redis stream, two
Granian workers, the live Uptime Kuma connection): a monitor flipped down in the simulator shows
in every open browser without a reload, and comes back."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import setup_household

# Kuma monitors are keyed by id (names need not be unique): NAS is monitor 3, Overseerr 2.
NAS = "#status-kuma-3"


def test_monitor_flip_reaches_two_browsers_within_two_seconds_and_recovers(journeys, kuma_sim):
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    for journey in (alice, bob):
        expect(journey.page.locator(NAS)).to_have_text("Up", timeout=15_000)
    alice.page.evaluate("window.__marker = 'no reload'")

    kuma_sim.sim.set_status(3, "down", msg="No route to host")
    started = time.monotonic()
    for journey in (alice, bob):
        expect(journey.page.locator(NAS)).to_have_text("Down", timeout=2_000)
    assert time.monotonic() - started < 2.0
    expect(bob.page.locator("#outage-kuma-3")).to_contain_text("NAS is down since")

    kuma_sim.sim.set_status(3, "up", ping=12)
    for journey in (alice, bob):
        expect(journey.page.locator(NAS)).to_have_text("Up", timeout=2_000)
    expect(bob.page.locator("#outage-kuma-3")).to_have_count(0)
    assert alice.page.evaluate("window.__marker") == "no reload"
    checked = alice.page.locator("#card-kuma-3 .checked-ago")
    expect(checked).to_have_text(__import__("re").compile(r"^checked \d+ s ago$"))
    # Kuma's Plex monitor replaces MediaNest's own Plex check; Kuma's uptime figures are shown.
    expect(alice.page.locator("#card-kuma-2")).to_contain_text("96.00%")
    expect(alice.page.locator("#card-plex")).to_have_count(0)
    # The live beats left Kuma's own uptime on the card (not a count of the beats MediaNest saw).
    nas_24h = kuma_sim.sim.uptime(kuma_sim.sim.monitor(3), 24)
    expect(alice.page.locator("#card-kuma-3")).to_contain_text(f"{nas_24h * 100:.2f}%")


def test_kuma_unreachable_says_which_service(journeys, kuma_sim):
    alice = journeys()
    setup_household(alice)
    kuma_sim.sim.set_faults(status=503)
    try:
        expect(alice.page.locator("#status-uptime-kuma")).to_have_text("Down", timeout=15_000)
        expect(alice.page.locator("#card-uptime-kuma")).to_contain_text("Uptime Kuma is not answering right now")
    finally:
        kuma_sim.sim.clear_faults()
    # Kuma answers again: the card saying it does not goes away by itself (after the circuit
    # breaker's 30 s if it opened meanwhile).
    expect(alice.page.locator("#card-uptime-kuma")).to_have_count(0, timeout=45_000)
    expect(alice.page.locator(NAS)).to_have_text("Up", timeout=15_000)


def test_metrics_cover_requests_events_status_breakers_queue_tasks_and_sessions(journeys, app_url):
    alice = journeys()
    setup_household(alice)
    expect(alice.page.locator(NAS)).to_have_text("Up", timeout=15_000)
    text = httpx.get(f"{app_url}/metrics", timeout=10).text
    for name in ("medianest_http_requests_total", "medianest_http_request_duration_seconds_bucket",
                 "medianest_event_handler_calls_total", "medianest_service_up", "medianest_active_sessions",
                 "medianest_task_queue_depth", "medianest_task_runs_total", "medianest_task_duration_seconds_total"):
        assert name in text, f"{name} missing from /metrics"
    assert 'medianest_service_up{service="NAS",status="up"} 1.0' in text
    assert "medianest_active_sessions 1.0" in text
    assert 'medianest_task_runs_total{outcome="success",task="status.check"}' in text
    assert 'medianest_event_handler_calls_total{handler="SessionState.guard",outcome="ok"}' in text
    assert 'medianest_event_handler_duration_seconds_count{handler="SessionState.guard"}' in text
    assert 'route="/auth"' in text  # the sign-in hops, counted across both web workers
