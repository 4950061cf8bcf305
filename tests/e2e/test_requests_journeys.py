"""Members search, request, follow and browse in a real Chromium against MediaNest in production
mode (Redis, two web workers, a Taskiq worker and the scheduler); the Overseerr simulator plays
the admin's and the download's part through its hooks."""

from __future__ import annotations

import os
import re
import time

import psycopg
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REQUEST_LIMIT, Journey, setup_household

DUNE = "movie-438631"
OPPENHEIMER = "movie-872585"
SEVERANCE = "tv-95396"
LIVE = 10_000  # ms: the scheduled status sync runs every 2 s in these tests


def _search(page: Page, text: str, key: str):
    if not page.url.endswith("/search"):
        page.goto("/search")
    box = page.locator("#search-input")
    expect(box).to_be_visible(timeout=30_000)
    box.fill(text)
    card = page.locator(f'.search-result[data-key="{key}"]')
    expect(card).to_be_visible(timeout=15_000)
    return card


def _request_row(page: Page, title: str):
    return page.locator(f'.request-row[data-title="{title}"]')


def _member(journeys, name: str) -> Journey:
    journey = journeys()
    journey.sign_in_with_plex(name)
    expect(journey.page.locator("#welcome-name")).to_have_text(name, timeout=30_000)
    return journey


def _overseerr_request_id(title: str) -> int:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT overseerr_request_id FROM media_requests WHERE title = %s", (title,)).fetchone()
    assert row and row[0], f"{title} has no Overseerr request"
    return int(row[0])


def test_request_a_movie_and_see_it_become_available_live(journeys, overseerr_sim, plex_sims):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = bob.page
    card = _search(page, "dune", DUNE)
    expect(card.locator(".availability")).to_have_text("Not requested")
    expect(card.locator("img.poster")).to_have_attribute("src", re.compile(r"^/media/tmdb/w300/"))
    card.locator(".request-button").click()
    expect(page.get_by_text("Dune was requested and is waiting for approval.")).to_be_visible()
    expect(card.locator(".availability")).to_have_text("You requested this")
    # Sent as bob's Overseerr user, so Overseerr's own rules made it pending.
    (remote,) = overseerr_sim.sim.state()["requests"]
    assert remote["requestedBy"]["plexId"] == 1002 and remote["status"] == 1

    page.goto("/requests")
    row = _request_row(page, "Dune")
    expect(row.locator(".request-status")).to_have_text("Pending approval", timeout=30_000)
    overseerr_sim.sim.approve(_overseerr_request_id("Dune"))
    expect(row.locator(".request-status")).to_have_text("Processing", timeout=LIVE)
    expect(page.locator(".notice", has_text="Dune was approved")).to_be_visible(timeout=LIVE)

    # On another page when the download lands in Plex: the notification still arrives.
    page.goto("/")
    expect(page.locator("#welcome-name")).to_have_text("bob")
    overseerr_sim.sim.mark_available(_overseerr_request_id("Dune"))
    notice = page.locator(".notice", has_text="Dune is available")
    expect(notice).to_be_visible(timeout=LIVE)
    link = notice.locator(".notice-link")
    expect(link).to_have_text("Watch in Plex")
    expect(link).to_have_attribute("href", re.compile(r"^https://app\.plex\.tv/desktop#!/server/"))
    assert plex_sims.sim.item_by_guid("tmdb://438631") is not None  # and it is really in Plex
    page.goto("/requests")
    expect(_request_row(page, "Dune").locator(".request-status")).to_have_text("Available", timeout=30_000)
    notice.locator(".notice-dismiss").click()
    expect(page.locator(".notice", has_text="Dune is available")).to_have_count(0)


def test_request_chosen_seasons_of_a_show(journeys, overseerr_sim):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = bob.page
    card = _search(page, "severance", SEVERANCE)
    card.locator(".request-button").click()
    seasons = page.locator("#season-list")
    expect(seasons.locator(".season-row")).to_have_count(2, timeout=15_000)
    page.locator("#season-2").click()  # keep only season 1
    expect(page.locator("#request-seasons")).to_have_text("Request 1 season(s)")
    page.locator("#request-seasons").click()
    expect(page.get_by_text("Severance was requested and is waiting for approval.")).to_be_visible()
    (remote,) = overseerr_sim.sim.state()["requests"]
    assert [s["seasonNumber"] for s in remote["seasons"]] == [1]

    # Opening the picker again shows season 1 as requested and not choosable.
    card.locator(".request-button").click()
    first = seasons.locator(".season-row").nth(0)
    expect(first).to_contain_text("Requested", timeout=15_000)
    expect(page.locator("#season-1")).to_be_disabled()
    expect(page.locator("#request-seasons")).to_have_text("Request 1 season(s)")
    page.keyboard.press("Escape")
    page.goto("/requests")
    expect(_request_row(page, "Severance")).to_contain_text("Show · seasons 1", timeout=30_000)


def test_a_duplicate_is_followed_and_the_follower_is_notified(journeys, overseerr_sim):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    _search(bob.page, "dune", DUNE).locator(".request-button").click()
    expect(bob.page.get_by_text("waiting for approval")).to_be_visible()

    carol = _member(journeys, "carol")
    card = _search(carol.page, "dune", DUNE)
    expect(card.locator(".availability")).to_have_text("Requested")
    card.locator(".follow-button").click()
    expect(carol.page.get_by_text("You will be told when Dune is available.")).to_be_visible()
    expect(card.locator(".availability")).to_have_text("Requested · following")
    carol.page.goto("/requests")
    expect(carol.page.locator("#following")).to_contain_text("Dune", timeout=30_000)

    request_id = _overseerr_request_id("Dune")
    overseerr_sim.sim.approve(request_id)
    overseerr_sim.sim.mark_available(request_id)
    expect(carol.page.locator(".notice", has_text="Dune is available")).to_be_visible(timeout=LIVE)
    expect(bob.page.locator(".notice", has_text="Dune is available")).to_be_visible(timeout=LIVE)


def test_the_hourly_limit_says_how_long_to_wait(journeys, overseerr_sim):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    titles = [("dune", DUNE), ("oppenheimer", OPPENHEIMER), ("the heat", "movie-136795"),
              ("schindler", "movie-424"), ("blade runner 2049", "movie-335984")]
    assert len(titles) == REQUEST_LIMIT + 1
    for text, key in titles[:REQUEST_LIMIT]:
        card = _search(bob.page, text, key)
        card.locator(".request-button").click()
        expect(card.locator(".availability")).to_have_text("You requested this")
    text, key = titles[-1]
    card = _search(bob.page, text, key)
    card.locator(".request-button").click()
    expect(bob.page.get_by_text(re.compile(
        rf"You have made {REQUEST_LIMIT} requests in the last hour.*You can request again in 60 minutes"))
    ).to_be_visible()
    expect(card.locator(".availability")).to_have_text("Not requested")
    assert len(overseerr_sim.sim.state()["requests"]) == REQUEST_LIMIT


def test_admin_declines_with_a_reason_and_the_member_sees_it(journeys, overseerr_sim):
    alice = journeys()
    setup_household(alice)
    bob = _member(journeys, "bob")
    _search(bob.page, "oppenheimer", OPPENHEIMER).locator(".request-button").click()
    expect(bob.page.get_by_text("waiting for approval")).to_be_visible()
    bob.page.goto("/requests")
    expect(_request_row(bob.page, "Oppenheimer").locator(".request-status")).to_have_text("Pending approval",
                                                                                          timeout=30_000)

    alice.page.goto("/admin/requests")
    row = _request_row(alice.page, "Oppenheimer")
    expect(row.locator(".request-user")).to_have_text("by bob", timeout=30_000)
    row.locator(".decline-button").click()
    alice.page.locator("#decline-reason").fill("Already on the shelf as a Blu-ray")
    alice.page.locator("#confirm-decline").click()
    expect(alice.page.get_by_text("Oppenheimer was declined.")).to_be_visible()
    assert overseerr_sim.sim.state()["requests"][0]["status"] == 3

    mine = _request_row(bob.page, "Oppenheimer")
    expect(mine.locator(".request-status")).to_have_text("Declined", timeout=LIVE)
    expect(mine.locator(".request-message")).to_have_text("Already on the shelf as a Blu-ray")
    expect(bob.page.locator(".notice", has_text="Oppenheimer was declined")).to_contain_text(
        "Already on the shelf as a Blu-ray", timeout=LIVE)


def test_an_open_search_page_follows_a_decline(journeys, overseerr_sim):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    card = _search(bob.page, "oppenheimer", OPPENHEIMER)
    card.locator(".request-button").click()
    expect(card.locator(".availability")).to_have_text("You requested this")
    overseerr_sim.sim.decline(_overseerr_request_id("Oppenheimer"))
    # The status sync records the decline; the open results follow the member's feed.
    expect(card.locator(".availability")).to_have_text("Not requested", timeout=LIVE)
    expect(card.locator(".request-button")).to_be_visible()
    expect(bob.page.locator(".notice", has_text="Oppenheimer was declined")).to_be_visible(timeout=LIVE)


def test_request_made_while_overseerr_is_down_is_delivered_later(journeys, overseerr_sim):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = bob.page
    card = _search(page, "dune", DUNE)
    overseerr_sim.sim.set_faults(status=503, path_prefix="/api/v1/")
    try:
        card.locator(".request-button").click()
        expect(page.get_by_text(re.compile("Dune is saved.*send the request automatically"))).to_be_visible()
        page.goto("/requests")
        row = _request_row(page, "Dune")
        expect(row.locator(".request-status")).to_have_text("Queued", timeout=30_000)
        assert overseerr_sim.sim.state()["requests"] == []
        # A long outage: the retries have backed off to the production cap (15 minutes).
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            conn.execute("UPDATE media_requests SET next_attempt_at = now() + interval '900 seconds' "
                         "WHERE title = 'Dune'")
        time.sleep(3)  # the status check (every second) sees Overseerr down
    finally:
        overseerr_sim.sim.clear_faults()
    # Once MediaNest sees Overseerr answer again (its status check, after the worker's breaker lets
    # a call through: 30 s at most) the queued request goes out, not after its backoff.
    expect(row.locator(".request-status")).to_have_text("Pending approval", timeout=60_000)
    assert len(overseerr_sim.sim.state()["requests"]) == 1
    time.sleep(2)  # another retry round must not send it again
    assert len(overseerr_sim.sim.state()["requests"]) == 1


def test_library_shows_posters_through_medianest(journeys, plex_sims):
    alice = journeys()
    setup_household(alice)
    page = alice.page
    page.goto("/library")
    items = page.locator("#library-items .library-item")
    expect(items.first).to_be_visible(timeout=30_000)
    poster = items.first.locator("img.poster")
    expect(poster).to_have_attribute("src", re.compile(r"^/media/plex\?path=%2Flibrary%2F"))
    page.wait_for_function("() => { const i = document.querySelector('#library-items img.poster');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=15_000)
    expect(items.first.locator(".watch-link")).to_have_attribute(
        "href", re.compile(r"^https://app\.plex\.tv/desktop#!/server/517aed8117af122796b91655a5bcb730f27164dd/"))
    page.locator(".section-button", has_text="Movies").click()
    expect(page.locator(".library-title", has_text="The Matrix")).to_be_visible(timeout=15_000)
    page.locator("#library-search").fill("matrix")
    expect(page.locator("#library-items .library-item")).to_have_count(1, timeout=15_000)
    token = plex_sims.sim.server_token("alice")
    assert token and token not in page.content()
