"""Admin → Services in a real Chromium against MediaNest in production mode (two web workers, a
Taskiq worker): a wrong Overseerr key is refused by Test, saved anyway, refused by Overseerr on
search in plain words, then the right key makes search work, with no restart; no secret ever
reaches the browser (page source and every websocket frame); members are refused."""

from __future__ import annotations

import os
import re
import uuid

import psycopg
import pytest
import redis
from playwright.sync_api import Page, expect

from medianest.simulators import fixtures
from tests.conftest import REDIS_PREFIX
from tests.e2e.conftest import Journey, setup_household

WRONG_KEY = "V3JvbmdLZXlUeXBlZEJ5QWxpY2UwMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcHFy"
RIGHT_KEY = fixtures.OVERSEERR_API_KEY
OPPENHEIMER = "movie-872585"


@pytest.fixture(autouse=True)
def saved_settings_dropped(app_url, private_redis):
    """Whatever a journey saved is dropped afterwards in the database and in every process."""
    yield
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM service_configs")
    client = redis.Redis.from_url(private_redis.url)
    version = uuid.uuid4().hex
    client.set(f"{REDIS_PREFIX}config-version", version)
    client.publish(f"{REDIS_PREFIX}config-changed", version)


class Frames:
    """Every websocket frame the page sends and receives."""

    def __init__(self, page: Page) -> None:
        self.sent: list[str] = []
        self.received: list[str] = []
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framesent", lambda payload: self.sent.append(_text(payload)))
        ws.on("framereceived", lambda payload: self.received.append(_text(payload)))


def _text(payload) -> str:
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def _open_services(page: Page) -> None:
    page.goto("/admin/services")
    expect(page.locator("#card-overseerr")).to_be_visible(timeout=30_000)


def _search(page: Page, text: str) -> None:
    page.goto("/search")
    box = page.locator("#search-input")
    expect(box).to_be_visible(timeout=30_000)
    box.fill(text)


def test_alice_replaces_the_overseerr_key_and_search_follows_without_a_restart(journeys):
    alice = journeys()
    frames = Frames(alice.page)
    setup_household(alice)
    page = alice.page
    _open_services(page)
    expect(page.locator("#source-overseerr_api_key")).to_have_text("from OVERSEERR_API_KEY in the environment")
    expect(page.locator("#state-overseerr_api_key")).to_have_text(f"set · ends in …{RIGHT_KEY[-4:]}")

    # A wrong key: Test says Overseerr refuses it, before anything is saved.
    page.locator("#field-overseerr_api_key").fill(WRONG_KEY)
    page.locator("#test-overseerr").click()
    expect(page.locator("#note-overseerr")).to_have_text(
        "Overseerr 1.34.0 answers at that address, but it refused the API key.", timeout=15_000)
    expect(page.locator("#state-overseerr_api_key")).to_have_text(f"set · ends in …{RIGHT_KEY[-4:]}")

    # Saved anyway: the form is drawn again without the typed key, the card shows the new ending.
    page.locator("#save-overseerr").click()
    expect(page.locator("#note-overseerr")).to_contain_text("Overseerr saved (API key replaced)")
    expect(page.locator("#state-overseerr_api_key")).to_have_text(f"set · ends in …{WRONG_KEY[-4:]}")
    expect(page.locator("#source-overseerr_api_key")).to_have_text("saved here")
    expect(page.locator("#field-overseerr_api_key")).to_have_value("")

    # Search (whichever web worker serves it) now meets Overseerr's refusal, in plain words.
    _search(page, "dune")
    expect(page.locator("#search-error")).to_have_text(
        "Overseerr refused MediaNest's API key, so it cannot be used right now. An admin can correct the key "
        "under Admin → Services.", timeout=15_000)

    # The right key: search works again, no restart.
    _open_services(page)
    page.locator("#field-overseerr_api_key").fill(RIGHT_KEY)
    page.locator("#test-overseerr").click()
    expect(page.locator("#note-overseerr")).to_have_text("Connected to Overseerr 1.34.0 as alice.", timeout=15_000)
    page.locator("#save-overseerr").click()
    # The environment's own key: nothing needs saving any more, the environment's applies again.
    expect(page.locator("#note-overseerr")).to_contain_text("API key back to the environment")
    expect(page.locator("#source-overseerr_api_key")).to_have_text("from OVERSEERR_API_KEY in the environment")
    _search(page, "oppenheimer")  # the box keeps "dune": a new query is a new search
    expect(page.locator(f'.search-result[data-key="{OPPENHEIMER}"]')).to_be_visible(timeout=15_000)
    expect(page.locator("#search-error")).to_have_count(0)

    # No secret in the page source, and none in anything the server sent over the websocket.
    _open_services(page)
    source = page.content()
    for secret in (WRONG_KEY, RIGHT_KEY):
        assert secret not in source
        assert not [f for f in frames.received if secret in f], "a secret reached the browser"
    assert len(frames.received) > 20
    # The browser sent each typed key only inside the form it submitted (Test and Save), never otherwise.
    carrying = [f for f in frames.sent if WRONG_KEY in f or RIGHT_KEY in f]
    assert len(carrying) == 4 and all("admin_services_state.submit" in f for f in carrying)


def test_invalid_values_are_refused_with_the_field_named(journeys):
    alice = journeys()
    setup_household(alice)
    page = alice.page
    _open_services(page)
    page.locator("#field-downloads_concurrency").fill("99")
    page.locator("#save-downloads").click()
    expect(page.locator("#error-downloads_concurrency")).to_have_text("use a whole number from 1 to 16.")
    expect(page.locator("#note-downloads")).to_have_text(
        "YouTube downloads · Videos at once per worker: use a whole number from 1 to 16.")
    page.locator("#field-uptime_kuma_url").fill("kuma.lan")
    page.locator("#save-uptime_kuma").click()
    expect(page.locator("#error-uptime_kuma_url")).to_contain_text("is not a web address")
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM service_configs").fetchone()[0] == 0


def test_a_member_opening_the_services_page_is_refused(journeys):
    setup_household(journeys())
    bob: Journey = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob", timeout=30_000)
    bob.page.goto("/admin/services")
    expect(bob.page).to_have_url(re.compile(r"/forbidden/?$"), timeout=15_000)
    expect(bob.page.locator("#forbidden-message")).to_contain_text("Only admins can open the admin area")
    expect(bob.page.locator("#card-overseerr")).to_have_count(0)
