"""Journeys in Chromium against the running app: first user, members, strangers, sign-out,
suspension, remember-me, the sign-in rate limit and the local admin bootstrap."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import HOUSEHOLD, LOCAL_ADMIN_PASSWORD, setup_household


def test_first_user_becomes_admin_sets_up_and_lands_in_shell(journeys):
    alice = journeys()
    page = alice.page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"), timeout=30_000)
    alice.sign_in_with_plex("alice")
    expect(page).to_have_url(re.compile(r"/setup/?$"), timeout=30_000)
    expect(page.locator(f"#choose-{HOUSEHOLD}")).to_be_visible()
    expect(page.locator("#server-list")).to_contain_text("Alice's Laptop")
    page.locator(f"#choose-{HOUSEHOLD}").click()
    expect(page.locator("#welcome-name")).to_have_text("alice")
    expect(page.locator("#household-name")).to_have_text("Household")
    expect(page.locator("#home-role")).to_have_text("admin")
    expect(page.locator("#nav-admin")).to_be_visible()
    page.locator("#nav-admin").click()
    expect(page.locator("#users-table")).to_contain_text("alice")


def test_shared_member_is_a_member_and_admin_area_is_refused(journeys):
    setup_household(journeys())
    bob = journeys()
    bob.sign_in_with_plex("bob")
    page = bob.page
    expect(page.locator("#welcome-name")).to_have_text("bob")
    expect(page.locator("#home-role")).to_have_text("user")
    expect(page.locator("#nav-home")).to_be_visible()
    expect(page.locator("#nav-admin")).to_have_count(0)
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/forbidden/?$"), timeout=15_000)
    expect(page.locator("#forbidden-message")).to_contain_text("Only admins can open the admin area")
    expect(page.locator("#users-table")).to_have_count(0)


def test_stranger_is_refused_with_a_page_that_says_why(journeys):
    setup_household(journeys())
    mallory = journeys()
    mallory.sign_in_with_plex("mallory")
    page = mallory.page
    expect(page.locator("#denied-title")).to_have_text("You can't sign in here")
    expect(page.locator("#callback-message")).to_contain_text("does not have access to the household server")
    assert mallory.session_cookie() is None
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_sign_out_ends_the_session_everywhere_it_was_used(journeys, browser):
    alice = journeys()
    setup_household(alice)
    stolen = alice.session_cookie()
    assert stolen and stolen["httpOnly"] and stolen["sameSite"] == "Lax"
    alice.page.locator("#user-menu").click()
    alice.page.locator("#sign-out").click()
    expect(alice.page).to_have_url(re.compile(r"/login/?\?signed_out=1"))
    expect(alice.page.locator("#login-notice")).to_have_text("You are signed out.")
    assert alice.session_cookie() is None
    # Replaying the old cookie in another browser does not work: the server-side session is gone.
    replay = journeys()
    replay.context.add_cookies([{k: stolen[k] for k in ("name", "value", "domain", "path")}])
    replay.page.goto("/")
    expect(replay.page).to_have_url(re.compile(r"/login"))


def test_suspended_member_is_signed_out_and_cannot_sign_in(journeys):
    alice = journeys()
    setup_household(alice)
    bob = journeys()
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")

    alice.page.goto("/admin")
    alice.page.locator("#suspend-bob").click()
    expect(alice.page.locator("#status-bob")).to_have_text("suspended")

    bob.page.goto("/")
    expect(bob.page).to_have_url(re.compile(r"/login"))
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#callback-message")).to_contain_text("suspended")
    assert bob.session_cookie() is None

    alice.page.locator("#reactivate-bob").click()
    expect(alice.page.locator("#status-bob")).to_have_text("active")
    bob.sign_in_with_plex("bob")
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")


def test_remember_me_keeps_30_days_otherwise_browser_session(journeys):
    alice = journeys()
    setup_household(alice)
    cookie = alice.session_cookie()
    days = (cookie["expires"] - time.time()) / 86400
    assert 29.9 < days <= 30.01

    bob = journeys()
    bob.sign_in_with_plex("bob", remember=False)
    expect(bob.page.locator("#welcome-name")).to_have_text("bob")
    assert bob.session_cookie()["expires"] == -1  # a session cookie: gone when the browser closes


def test_protected_page_returns_to_where_the_member_was_going(journeys):
    setup_household(journeys())
    bob = journeys()
    bob.page.goto("/account/password")
    expect(bob.page).to_have_url(re.compile(r"/login/?\?next="))
    # The destination reaches the sign-in form once the page has loaded its state (on_load).
    expect(bob.page.locator("input[name=next]")).to_have_value(re.compile(r"^/account/password/?$"))
    bob.page.locator("#plex-sign-in").click()
    bob.page.locator("#approve-bob").click()
    expect(bob.page).to_have_url(re.compile(r"/account/password"))


def test_sign_in_rate_limit_says_when_to_try_again(journeys):
    visitor = journeys()
    page = visitor.page
    for _ in range(5):
        page.goto("/login")
        page.locator("#plex-sign-in").click()
        expect(page.locator("#approve-alice")).to_be_visible()
    page.goto("/login")
    page.locator("#plex-sign-in").click()
    expect(page.locator("#login-error")).to_have_text(
        "Too many sign-in attempts. Try again in 15 minutes.")


def test_local_admin_must_change_the_bootstrap_password(journeys):
    admin = journeys()
    page = admin.page
    page.goto("/login")
    page.locator("#local-username").fill("admin")
    page.locator("#local-password").fill("wrong password")
    page.locator("#local-submit").click()
    expect(page.locator("#local-error")).to_have_text("That user name and password do not match.")
    page.locator("#local-password").fill(LOCAL_ADMIN_PASSWORD)
    page.locator("#local-submit").click()
    expect(page).to_have_url(re.compile(r"/account/password"))
    expect(page.locator("#must-change")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/account/password"))  # nothing else until it is changed
    page.locator("#pw-current").fill(LOCAL_ADMIN_PASSWORD)
    page.locator("#pw-new").fill("a-long-new-password")
    page.locator("#pw-confirm").fill("a-long-new-password")
    page.locator("#pw-submit").click()
    expect(page.locator("#welcome-name")).to_have_text("admin")


def test_not_found_page_and_security_headers(journeys):
    visitor = journeys()
    response = visitor.page.goto("/no/such/page")
    expect(visitor.page.locator("#not-found")).to_have_text("Page not found")
    assert response.status == 404
    headers = visitor.page.goto("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_phone_width_and_dark_mode(journeys):
    setup_household(journeys())
    bob = journeys(viewport={"width": 390, "height": 844}, color_scheme="dark")
    bob.sign_in_with_plex("bob")
    page = bob.page
    expect(page.locator("#welcome-name")).to_have_text("bob")
    expect(page.locator("#nav-home")).to_be_hidden()  # header links fold into the menu on phones
    page.locator("#user-menu").click()
    expect(page.get_by_role("menuitem", name="Home")).to_be_visible()
    expect(page.locator("#sign-out")).to_be_visible()
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is wider than the phone: {width}px"


def test_error_page_shows_the_reference(journeys):
    visitor = journeys()
    visitor.page.goto("/error?ref=abc123def456")
    expect(visitor.page.locator("#error-reference")).to_have_text("abc123def456")
    visitor.page.goto("/error?ref=<script>")
    expect(visitor.page.locator("#error-reference")).to_have_text("")


def test_cors_only_for_our_own_origin(fresh):
    import httpx

    own = httpx.get(f"{fresh}/health", headers={"Origin": fresh})
    assert own.headers.get("access-control-allow-origin") == fresh
    foreign = httpx.get(f"{fresh}/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    preflight = httpx.options(f"{fresh}/health", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


def test_plex_refusing_the_account_lookup_ends_in_a_clear_message(journeys, plex_sims):
    visitor = journeys()
    plex_sims.sim.set_faults("plex_tv", status=401, path_prefix="/api/v2/user")
    visitor.sign_in_with_plex("bob")
    expect(visitor.page.locator("#callback-message")).to_have_text("Plex refused this sign-in. Please start again.")
    assert visitor.session_cookie() is None
