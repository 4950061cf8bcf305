"""The request journeys against the simulator's Seerr 3.1 flavour (integrations.md §3.13): its
media carry ``plexUrl: null`` with the link in ``mediaUrl``, and a new request for an available
title is accepted (201) instead of refused (409). The session's one simulator is switched to the
seerr flavour for the test (``fresh`` resets it to Overseerr for the next one); MediaNest's client
keeps nothing per flavour, so no restart is needed."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import setup_household
from tests.e2e.test_requests_journeys import DUNE, LIVE, _member, _overseerr_request_id, _request_row, _search

PLEX_LINK = re.compile(r"^https://app\.plex\.tv/desktop#!/server/[^/]+/details\?key=%2Flibrary%2Fmetadata%2F\d+$")


def test_seerr_watch_in_plex_and_no_request_for_an_available_title(journeys, overseerr_sim):
    overseerr_sim.sim.set_flavour("seerr")
    setup_household(journeys())
    bob = _member(journeys, "bob")
    carol = _member(journeys, "carol")
    card = _search(bob.page, "dune", DUNE)  # the snapshot every member's "dune" search now shares
    expect(card.locator(".availability")).to_have_text("Not requested")
    card.locator(".request-button").click()
    expect(bob.page.get_by_text("Dune was requested and is waiting for approval.")).to_be_visible()

    request_id = _overseerr_request_id("Dune")
    overseerr_sim.sim.approve(request_id)
    overseerr_sim.sim.mark_available(request_id)
    (remote,) = overseerr_sim.sim.state()["requests"]
    assert remote["status"] == 5 and remote["media"]["plexUrl"] is None and remote["media"]["mediaUrl"]

    # The member is told, and every "Watch in Plex" link points at Plex, not at /library.
    notice = bob.page.locator(".notice", has_text="Dune is available")
    expect(notice).to_be_visible(timeout=LIVE)
    expect(notice.locator(".notice-link")).to_have_attribute("href", PLEX_LINK)
    bob.page.goto("/requests")
    row = _request_row(bob.page, "Dune")
    expect(row.locator(".request-status")).to_have_text("Available", timeout=30_000)
    expect(row.locator(".watch-link")).to_have_attribute("href", PLEX_LINK)

    # Carol's search is answered from the 5-minute cache taken before Dune was in Plex: it still
    # shows Available with the Plex link and offers no Request button.
    card = _search(carol.page, "dune", DUNE)
    expect(card.locator(".availability")).to_have_text("Available")
    expect(card.locator(".request-button")).to_have_count(0)
    expect(card.locator(".watch-link")).to_have_attribute("href", PLEX_LINK)
    time.sleep(1)
    assert len(overseerr_sim.sim.state()["requests"]) == 1  # nothing reached Seerr
