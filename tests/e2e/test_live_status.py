"""Live status in the production configuration (Taskiq worker + scheduler, Redis stream,
two Granian workers): a service going down shows in every open browser without a reload."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.e2e.conftest import setup_household


def test_outage_reaches_two_browsers_within_two_seconds_and_recovers(journeys, plex_sims):
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    for journey in (alice, bob):
        expect(journey.page.locator("#status-plex")).to_have_text("Up", timeout=15_000)
    alice.page.evaluate("window.__marker = 'no reload'")

    plex_sims.sim.set_faults("pms", status=503)
    started = time.monotonic()
    for journey in (alice, bob):
        expect(journey.page.locator("#status-plex")).to_have_text("Down", timeout=3_000)
    # The check interval here is 1 s, so "learning of it" takes up to 1 s of the budget.
    assert time.monotonic() - started < 3.0
    expect(bob.page.locator("#outage-plex")).to_contain_text("Plex is down since")
    expect(bob.page.locator("#card-plex")).to_contain_text("Plex is not answering.")

    plex_sims.sim.clear_faults()
    for journey in (alice, bob):
        expect(journey.page.locator("#status-plex")).to_have_text("Up", timeout=3_000)
    expect(bob.page.locator("#outage-plex")).to_have_count(0)
    assert alice.page.evaluate("window.__marker") == "no reload"


def test_metrics_cover_requests_events_status_breakers_queue_tasks_and_sessions(journeys, app_url):
    import httpx

    alice = journeys()
    setup_household(alice)
    expect(alice.page.locator("#status-plex")).to_have_text("Up", timeout=15_000)
    text = httpx.get(f"{app_url}/metrics", timeout=10).text
    for name in ("medianest_http_requests_total", "medianest_http_request_duration_seconds_bucket",
                 "medianest_event_handler_calls_total", "medianest_service_up", "medianest_active_sessions",
                 "medianest_task_queue_depth", "medianest_task_runs_total", "medianest_task_duration_seconds_total"):
        assert name in text, f"{name} missing from /metrics"
    assert 'medianest_service_up{service="Plex",status="up"} 1.0' in text
    assert "medianest_active_sessions 1.0" in text
    assert 'medianest_task_runs_total{outcome="success",task="status.check"}' in text
    assert 'handler="session_state.guard"' in text
    assert 'route="/auth"' in text  # the sign-in hops, counted across both web workers
