"""Admin → System in the production configuration (two Granian web processes, a Taskiq worker):
the checks, versions and sizes; an Overseerr breaker opened in the task worker by failing status
checks, reset from the page and closed in every process; and "Sign everyone out", which sends
bob's open tab to sign-in while the admin stays."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from medianest.simulators import fixtures
from medianest.version import VERSION
from tests.e2e.conftest import setup_household


def _refresh_until(page: Page, selector: str, pattern: re.Pattern[str], timeout_s: float = 40) -> None:
    """The page shows breakers as last read; refresh until ``selector``'s text matches ``pattern``."""
    deadline = time.monotonic() + timeout_s
    while not pattern.search(page.locator(selector).inner_text()):
        assert time.monotonic() < deadline, f"{selector} never matched {pattern.pattern!r}"
        page.locator("#system-refresh").click()
        page.wait_for_timeout(500)


def test_admin_sees_the_system_and_resets_an_open_breaker_everywhere(journeys, overseerr_sim):
    alice = journeys()
    setup_household(alice)
    page = alice.page
    page.goto("/admin/system")
    expect(page.locator("#system-headline")).to_have_text("Healthy: /health answers 200.")
    expect(page.locator("#check-database")).to_contain_text("Answers (")
    expect(page.locator("#check-redis")).to_contain_text("Answers (")
    expect(page.locator("#version-medianest")).to_have_text(VERSION)
    expect(page.locator("#version-overseerr")).to_have_text(fixtures.OVERSEERR_VERSIONS["overseerr"])
    expect(page.locator("#version-plex")).to_have_text(fixtures.PMS_VERSION)
    expect(page.locator("#version-uptime-kuma")).to_have_text(fixtures.KUMA_VERSIONS["2.x"])
    expect(page.locator("#version-database")).to_contain_text("PostgreSQL")
    expect(page.locator("#storage-disk")).to_contain_text("free of")
    # Two web processes and the task worker report their breakers.
    expect(page.locator("#breaker-processes")).to_contain_text("3 processes")
    expect(page.locator("#breaker-processes")).to_contain_text("worker ")

    overseerr_sim.sim.set_faults(status=503)
    try:
        # The worker's status check of Overseerr fails every second, so its breaker opens. (Each
        # refresh asks Overseerr its version, so a web process's breaker may open as well.)
        _refresh_until(page, "#breaker-text-overseerr", re.compile("open in worker ", re.IGNORECASE))
        expect(page.locator("#breaker-state-overseerr")).to_have_text("Open")
        page.locator("#reset-overseerr").click()
        # Closed in every process, the worker included, before the failures can open it again.
        expect(page.locator("#breaker-state-overseerr")).to_have_text("Closed")
        expect(page.get_by_text("Overseerr's circuit breaker was reset in 3 processes.")).to_be_visible()
        expect(page.locator("#breaker-text-overseerr")).not_to_contain_text(re.compile("open in", re.IGNORECASE))
    finally:
        overseerr_sim.sim.clear_faults()

    page.goto("/admin/audit")
    expect(page.locator("#audit-rows .audit-row").first.locator(".audit-action")).to_contain_text(
        "Circuit breaker reset")


def test_sign_everyone_out_sends_bobs_open_tab_to_sign_in_and_the_admin_stays(journeys):
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")

    page = alice.page
    page.goto("/admin/system")
    expect(page.locator("#session-count")).to_have_text("2 signed-in sessions (2 people).")
    page.locator("#sign-everyone-out").click()
    page.locator("#confirm-sign-everyone-out").click()
    expect(page.get_by_text("Signed out 1 session; your own stays signed in.")).to_be_visible()
    expect(page.locator("#session-count")).to_have_text("1 signed-in session (1 person).")

    # Bob's open tab is sent to sign-in without him doing anything (no reload of his own).
    expect(bob.page).to_have_url(re.compile(r"/login"), timeout=15_000)
    expect(bob.page.locator("#plex-sign-in")).to_be_visible()
    bob.page.goto("/")
    expect(bob.page).to_have_url(re.compile(r"/login"))

    # The admin is still signed in.
    page.goto("/admin")
    expect(page.locator("#users-table")).to_be_visible()
