"""YouTube downloads in a real Chromium against MediaNest in production mode (PostgreSQL, Redis,
two web workers, a Taskiq worker and the scheduler): members paste links of the demo video site,
the worker fetches them with yt-dlp into the downloads folder that the PMS simulator's "YouTube"
library serves, and MediaNest puts them into Plex (scan, collection) and tells the member."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlmodel import Session, create_engine

from medianest.config import get_settings
from medianest.integrations.ytdlp.errors import (
    NO_CREDENTIALS,
    NOT_A_WEB_LINK,
    NOT_DOWNLOADABLE,
    ONLY_ALLOWED_HOSTS,
)
from medianest.models import DownloadState, ItemState
from medianest.pages.downloads import DownloadsState
from tests.e2e.conftest import Journey, setup_household
from tests.e2e.test_handler_authorization import send_all
from tests.factories import make_audit, make_download, make_download_item

LIVE = 10_000  # ms: a change reaches an open page through the live feed
FINISHED = 60_000  # ms: downloading a few small clips, then Plex's scan
ARCHIVES = ".archives"


def _member(journeys, name: str) -> Journey:
    journey = journeys()
    journey.sign_in_with_plex(name)
    expect(journey.page.locator("#welcome-name")).to_have_text(name, timeout=30_000)
    return journey


def _downloads_page(journey: Journey) -> Page:
    page = journey.page
    page.goto("/downloads")
    expect(page.locator("#download-url")).to_be_visible(timeout=30_000)
    expect(page.locator("#downloads-empty").or_(page.locator("#download-list"))).to_be_visible()
    return page


def _preview(page: Page, url: str) -> None:
    page.locator("#download-url").fill(url)
    # Typing clears the last error once the server has the link: then Preview looks at this one.
    expect(page.locator("#download-error")).to_have_count(0)
    button = page.locator("#download-preview")
    expect(button).to_be_enabled()
    button.click()


def _dismiss_notices(page: Page) -> None:
    """What a member does when the notices in the corner cover the button they want (another
    one may arrive meanwhile: downloads finish while the member goes on)."""
    notices = page.locator(".notice")
    for _ in range(5):
        if not notices.count():
            return
        button = page.locator("#dismiss-all-notices")
        if not button.is_visible():
            button = page.locator(".notice-dismiss").first
        try:
            button.click(timeout=2_000)
        except PlaywrightTimeoutError:
            pass  # gone meanwhile
        page.wait_for_timeout(300)
    expect(notices).to_have_count(0)


def _send(page: Page, url: str, title: str) -> int:
    """Preview ``url``, download every entry, and return the new download's id."""
    _preview(page, url)
    expect(page.locator("#preview-title")).to_have_text(title, timeout=30_000)
    if page.locator(".notice").count():
        _dismiss_notices(page)
    page.locator("#download-start").click()
    expect(page.get_by_text(f"{title} is on its way to Plex.")).to_be_visible()
    expect(page.locator("#download-preview-card")).to_have_count(0)
    return _newest_download()


def _sql(query: str, *args) -> list[tuple]:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        return conn.execute(query, args).fetchall()


def _newest_download() -> int:
    ((download_id,),) = _sql("SELECT max(id) FROM youtube_downloads")
    assert download_id is not None, "no download was saved"
    return download_id


def _eventually(check, timeout_s: float = 5.0):
    """``check()`` once it holds (files are tidied just after the page shows the new state)."""
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert check()


def _card(page: Page, download_id: int) -> Locator:
    return page.locator(f'.download-card[data-download="{download_id}"]')


def _files(root: Path) -> list[str]:
    """Every file under the downloads root but the members' download archives."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ARCHIVES not in p.parts)


def _videos(root: Path) -> list[str]:
    return [f for f in _files(root) if f.endswith(".mp4")]


def _collections(plex_sims) -> list[dict]:
    return plex_sims.sim.state()["collections"]


def _collection_files(plex_sims, collection: dict) -> list[str]:
    return sorted(Path(plex_sims.sim.items[key].file).name for key in collection["items"])


def test_bob_sends_two_of_three_videos_and_gets_a_collection_in_plex(journeys, video_site, plex_sims,
                                                                     downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    expect(page.locator("#downloads-empty")).to_be_visible()

    _preview(page, f"{video_site.url}/playlists/demo")
    expect(page.locator("#preview-title")).to_have_text("Demo playlist", timeout=30_000)
    expect(page.locator("#preview-count")).to_have_text("3 videos")
    expect(page.locator(".preview-entry")).to_have_count(3)
    for n in (1, 2, 3):
        expect(page.locator(f"#entry-demo-{n}")).to_have_attribute("data-state", "checked")
    page.locator("#entry-demo-2").click()
    expect(page.locator("#entry-demo-2")).to_have_attribute("data-state", "unchecked")
    expect(page.locator("#download-collection")).to_have_attribute("data-state", "checked")
    # Entry 3 comes slowly (about 5 s), so the download is seen under way.
    video_site.site.set_media_fault("/media/demo-3.mp4", rate_bytes_per_s=15_000)
    page.evaluate("window.__marker = 'no reload'")
    page.locator("#download-start").click()
    expect(page.get_by_text("Demo playlist is on its way to Plex.")).to_be_visible()
    assert _sql("SELECT entry_id FROM youtube_download_items ORDER BY position") == [("demo-1",), ("demo-3",)]

    card = _card(page, _newest_download())
    items = card.locator(".download-item")
    expect(items).to_have_count(2)
    expect(items.nth(0).locator(".download-item-title")).to_have_text("Demo playlist (1)")
    expect(items.nth(1).locator(".download-item-title")).to_have_text("Demo playlist (3)")
    # Live, without a reload: the first video is done while the slow one still downloads.
    expect(card.locator(".download-count")).to_have_text("1 of 2", timeout=30_000)
    expect(items.nth(0).locator(".download-item-state")).to_have_text("Done")
    expect(items.nth(1).locator(".download-item-state")).to_have_text("Downloading")
    expect(card.locator(".download-state")).to_have_text("Downloading")
    expect(card.locator(".download-state")).to_have_text("Done", timeout=FINISHED)
    expect(card.locator(".download-count")).to_have_text("2 of 2")
    expect(items.locator(".download-item-state")).to_have_text(["Done", "Done"])
    notice = page.locator(".notice", has_text="Demo playlist is in Plex")
    expect(notice).to_be_visible(timeout=LIVE)
    assert page.evaluate("window.__marker") == "no reload"

    # In Plex: one collection holding exactly the two downloaded videos, from the downloads folder.
    (collection,) = _collections(plex_sims)
    assert collection["title"] == "Demo playlist" and collection["sectionKey"] == 3
    wanted = ["01 - Demo playlist (1) [demo-1].mp4", "03 - Demo playlist (3) [demo-3].mp4"]
    assert _collection_files(plex_sims, collection) == wanted
    assert _videos(downloads_root) == [f"bob/Demo playlist/{name}" for name in wanted]
    assert not [f for f in _files(downloads_root) if f.startswith(".tmp/")]
    expect(notice.locator(".notice-link")).to_have_text("Watch in Plex")
    expect(notice.locator(".notice-link")).to_have_attribute(
        "href", re.compile(rf"^https://app\.plex\.tv/desktop#!/server/.*%2Flibrary%2Fmetadata%2F"
                           rf"{collection['ratingKey']}$"))
    assert _sql("SELECT status, make_collection, collection_key FROM youtube_downloads") == [
        ("done", True, str(collection["ratingKey"]))]
    assert _sql("SELECT entry_id, status FROM youtube_download_items ORDER BY position") == [
        ("demo-1", "done"), ("demo-3", "done")]
    assert _sql("SELECT kind, title FROM notifications") == [("download", "Demo playlist is in Plex")]

    # And in MediaNest's library.
    page.goto("/library")
    page.locator(".section-button", has_text="Collections").click()
    tile = page.locator("#library-items .library-item", has_text="Demo playlist")
    expect(tile).to_have_count(1, timeout=15_000)
    expect(tile).to_contain_text("2 items · YouTube")
    page.locator(".section-button", has_text="YouTube").click()
    expect(page.locator("#library-items .library-title")).to_have_text(
        ["Demo playlist (1)", "Demo playlist (3)"], timeout=15_000)

    # "My requests" shows the download too.
    page.goto("/requests")
    expect(page.locator("#my-downloads .download-line")).to_have_count(1, timeout=30_000)
    expect(page.locator("#my-downloads .download-line")).to_contain_text("Demo playlist")


def test_progress_is_live_and_a_cancel_stops_mid_file(journeys, video_site, downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    page.evaluate("window.__marker = 'no reload'")
    # /playlists/large is one 40 MiB file served at about 2 MB/s.
    download_id = _send(page, f"{video_site.url}/playlists/large", "Large file (1)")
    card = _card(page, download_id)
    item = card.locator(".download-item")
    expect(item.locator(".download-item-state")).to_have_text("Downloading", timeout=30_000)
    expect(item).to_contain_text("of 41.9 MB", timeout=LIVE)
    percent = item.get_by_text(re.compile(r"^\d+%$"))
    seen: list[int] = []
    deadline = time.monotonic() + 20
    while len(set(seen) - {0}) < 2 and time.monotonic() < deadline:
        value = int(percent.text_content(timeout=LIVE).rstrip("%"))
        if not seen or seen[-1] != value:
            seen.append(value)
        time.sleep(0.2)
    assert len(set(seen) - {0}) >= 2 and seen == sorted(seen), f"the percentage did not move on: {seen}"
    assert max(seen) < 100  # still mid-file
    expect(item.locator(".download-item-bar")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))

    card.locator(".download-cancel").click()
    started = time.monotonic()
    expect(card.locator(".download-state")).to_have_text("Cancelled", timeout=LIVE)
    assert time.monotonic() - started < 5
    expect(item.locator(".download-item-state")).to_have_text("Cancelled")
    assert page.evaluate("window.__marker") == "no reload"
    assert _sql("SELECT d.status, i.status FROM youtube_downloads d JOIN youtube_download_items i "
                "ON i.download_id = d.id") == [("cancelled", "cancelled")]
    _eventually(lambda: _files(downloads_root) == [])  # no partial file anywhere, the scratch folder included

    # A finished download can be removed: its rows and folder go.
    card.locator(".download-remove").click()
    page.locator(".download-remove-confirm").click()
    expect(page.get_by_text("Large file (1) was removed.")).to_be_visible()
    expect(page.locator("#downloads-empty")).to_be_visible(timeout=LIVE)
    assert _sql("SELECT count(*) FROM youtube_downloads") == [(0,)]
    assert not (downloads_root / "bob" / "Large file (1)").exists()


def test_a_failed_entry_is_retried_and_joins_the_collection(journeys, video_site, plex_sims, downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    _preview(page, f"{video_site.url}/playlists/demo")
    expect(page.locator(".preview-entry")).to_have_count(3, timeout=30_000)
    video_site.site.set_faults(status=404, path_prefix="/media/demo-2.mp4")  # gone, for now
    try:
        page.locator("#download-start").click()
        expect(page.get_by_text("Demo playlist is on its way to Plex.")).to_be_visible()
        card = _card(page, _newest_download())
        expect(card.locator(".download-state")).to_have_text("Done · 1 failed", timeout=FINISHED)
        expect(card.locator(".download-count")).to_have_text("2 of 3")
        failed = card.locator(".download-item").nth(1)
        expect(failed.locator(".download-item-state")).to_have_text("Failed")
        expect(failed.locator(".download-item-error")).to_contain_text("404")
        expect(failed.locator(".download-item-error")).not_to_contain_text("ERROR")  # a sentence, not yt-dlp's
        (collection,) = _collections(plex_sims)
        assert len(collection["items"]) == 2
    finally:
        video_site.site.clear_faults()

    failed.locator(".download-item-retry").click()
    expect(page.get_by_text("Trying again.")).to_be_visible()
    expect(card.locator(".download-state")).to_have_text("Done", timeout=FINISHED)
    expect(card.locator(".download-count")).to_have_text("3 of 3")
    expect(failed.locator(".download-item-state")).to_have_text("Done")
    expect(failed.locator(".download-item-error")).to_have_count(0)
    # The same collection, now with exactly the three videos.
    (again,) = _collections(plex_sims)
    assert again["ratingKey"] == collection["ratingKey"]
    assert _collection_files(plex_sims, again) == [
        f"0{n} - Demo playlist ({n}) [demo-{n}].mp4" for n in (1, 2, 3)]
    assert len(_videos(downloads_root)) == 3
    assert _sql("SELECT entry_id, status, attempts FROM youtube_download_items ORDER BY position") == [
        ("demo-1", "done", 1), ("demo-2", "done", 2), ("demo-3", "done", 1)]


HOSTILE = [
    ("file:///etc/passwd", NOT_A_WEB_LINK),
    ("javascript:alert(document.cookie)", NOT_A_WEB_LINK),
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", ONLY_ALLOWED_HOSTS),
    ("http://2130706433/playlists/demo", ONLY_ALLOWED_HOSTS),  # 127.0.0.1 written as a number
    ("https://www.youtube.com:8443/watch?v=dQw4w9WgXcQ", NOT_DOWNLOADABLE),
]


def test_hostile_links_are_refused_and_nothing_is_saved(journeys, video_site, app_url, downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    port = video_site.url.rsplit(":", 1)[1]
    for url, message in [*HOSTILE, (f"http://bob:secret@127.0.0.1:{port}/playlists/demo", NO_CREDENTIALS)]:
        _preview(page, url)
        expect(page.locator("#download-error")).to_have_text(message, timeout=30_000)
        expect(page.locator("#download-preview-card")).to_have_count(0)

    # The same through hand-made socket messages: preview, then download without a preview found.
    events = [f"{DownloadsState.get_full_name()}.{name}" for name in ("set_url", "look", "download")]
    results = send_all(app_url, bob.session_cookie()["value"], [
        (events[0], {"value": "file:///etc/passwd"}), (events[1], {"form": {"url": "file:///etc/passwd"}}),
        (events[2], {})])
    said = json.dumps(results)
    assert "Only web links" in said and "Preview the link first." in said

    assert _sql("SELECT count(*) FROM youtube_downloads") == [(0,)]
    assert _sql("SELECT count(*) FROM youtube_download_items") == [(0,)]
    assert _sql("SELECT count(*) FROM audit_log WHERE action LIKE 'download.%%'") == [(0,)]
    assert list(downloads_root.iterdir()) == []
    expect(page.locator("#downloads-empty")).to_be_visible()


# What bob downloaded earlier in the hour: link, title, kind, and how each video ended (the broken
# playlist's entry 2 is gone from the site).
EARLIER = [("/playlists/demo", "Demo playlist", "playlist", [ItemState.DONE] * 3),
           ("/videos/sunrise", "Sunrise (1)", "video", [ItemState.DONE]),
           ("/videos/ocean", "Ocean (1)", "video", [ItemState.DONE]),
           ("/playlists/broken", "Broken playlist", "playlist", [ItemState.DONE, ItemState.FAILED]),
           ("/media/demo-1.mp4", "demo-1", "video", [ItemState.DONE])]


def _earlier_downloads(user_id: int, site_url: str) -> list[int]:
    """Five finished downloads ``user_id`` started over the last few minutes, as the service leaves
    them: the rows and the ``download.created`` audit rows the hourly limit counts. (The journeys
    above download for real through the browser; five more of them would only take time.)"""
    engine = create_engine(get_settings().sync_database_url)
    ids = []
    try:
        with Session(engine) as session:
            for n, (path, title, kind, items) in enumerate(EARLIER):
                at = datetime.now(UTC) - timedelta(minutes=3) + timedelta(seconds=30 * n)
                download = make_download(session, user_id, title=title, url=f"{site_url}{path}", kind=kind,
                                         folder=f"bob/{title}", status=DownloadState.DONE, created_at=at,
                                         updated_at=at, finished_at=at, make_collection=kind == "playlist")
                session.flush()
                for position, state in enumerate(items, start=1):
                    make_download_item(session, download, position=position, entry_id=f"{title}-{position}",
                                       status=state, created_at=at, finished_at=at, attempts=1)
                make_audit(session, "download.created", actor=user_id, target=f"download:{download.id}",
                           created_at=at, entries=len(items), kind=kind)
                ids.append(download.id)
            session.commit()
    finally:
        engine.dispose()
    return ids


def test_the_sixth_download_in_an_hour_is_refused_with_the_wait(journeys, video_site, downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    ((bob_id,),) = _sql("SELECT id FROM users WHERE username = 'bob'")
    ids = _earlier_downloads(bob_id, video_site.url)
    page = _downloads_page(bob)
    for download_id, (_path, title, _kind, _items) in zip(ids, EARLIER, strict=True):
        expect(_card(page, download_id).locator(".download-state")).to_have_text(
            "Done · 1 failed" if title == "Broken playlist" else "Done")

    # The sixth, through the page as a member sends it.
    _preview(page, f"{video_site.url}/playlists/large")
    expect(page.locator("#preview-title")).to_have_text("Large file (1)", timeout=30_000)
    page.locator("#download-start").click()
    refusal = page.get_by_text(re.compile(r"You have started 5 downloads in the last hour, the most allowed\. "
                                          r"You can download again in (\d+) minutes\."))
    expect(refusal).to_be_visible()
    minutes = int(re.search(r"again in (\d+) minutes", refusal.text_content()).group(1))
    assert 55 <= minutes <= 60
    expect(page.locator("#download-preview-card")).to_be_visible()  # the choice is kept for later
    assert _sql("SELECT count(*) FROM youtube_downloads") == [(5,)]
    assert _sql("SELECT count(*) FROM youtube_downloads WHERE title = 'Large file (1)'") == [(0,)]
    assert _sql("SELECT count(*) FROM audit_log WHERE action = 'download.created'") == [(5,)]
    assert _videos(downloads_root) == []  # nothing was fetched for it
    expect(page.locator(".download-card")).to_have_count(5)


def test_plex_down_at_the_end_waits_then_finishes(journeys, video_site, plex_sims, downloads_root):
    setup_household(journeys())
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    plex_sims.sim.set_faults("pms", status=503, path_prefix="/library/")
    try:
        download_id = _send(page, f"{video_site.url}/videos/sunrise", "Sunrise (1)")
        card = _card(page, download_id)
        expect(card.locator(".download-state")).to_have_text("Waiting for Plex", timeout=FINISHED)
        expect(card.locator(".download-note")).to_have_text(
            re.compile(r"^Waiting for Plex: it is not answering since \d\d:\d\d UTC\.$"))
        assert _videos(downloads_root) == ["bob/Sunrise (1)/Sunrise (1) [sunrise-1].mp4"]  # the file is kept
        assert _sql("SELECT status FROM youtube_downloads") == [("waiting_plex",)]
        assert _sql("SELECT count(*) FROM notifications") == [(0,)]
    finally:
        plex_sims.sim.clear_faults()

    # Plex answers again. The watchdog would finish it within 30 s; the card's Retry does it now.
    card.locator(".download-retry").click()
    expect(page.get_by_text("Trying again.")).to_be_visible()
    expect(card.locator(".download-state")).to_have_text("Done", timeout=30_000)
    expect(card.locator(".download-note")).to_have_count(0)
    expect(page.locator(".notice", has_text="Sunrise (1) is in Plex")).to_be_visible(timeout=LIVE)
    files = [Path(i.file).name for i in plex_sims.sim.items.values() if i.section_key == 3]
    assert files == ["Sunrise (1) [sunrise-1].mp4"]
    assert _sql("SELECT status, note FROM youtube_downloads") == [("done", None)]


def test_admin_sees_and_cancels_a_members_download_and_members_see_only_their_own(journeys, video_site, app_url,
                                                                                  downloads_root):
    # Slower than usual (about 80 s), so both downloads are still running when they are cancelled.
    video_site.site.set_media_fault("/media/large-1.mp4", rate_bytes_per_s=500_000)
    alice = journeys()
    setup_household(alice)
    bob = _member(journeys, "bob")
    bob_page = _downloads_page(bob)
    bobs = _send(bob_page, f"{video_site.url}/playlists/large", "Large file (1)")
    carol = _member(journeys, "carol")
    carol_page = _downloads_page(carol)
    carols = _send(carol_page, f"{video_site.url}/playlists/large", "Large file (1)")
    for page, mine in ((bob_page, bobs), (carol_page, carols)):
        expect(_card(page, mine).locator(".download-item-state")).to_have_text("Downloading", timeout=30_000)

    # carol sees only her own download, and cannot touch bob's through a hand-made message.
    expect(carol_page.locator(".download-card")).to_have_count(1)
    expect(_card(carol_page, bobs)).to_have_count(0)
    cancel = f"{DownloadsState.get_full_name()}.cancel"
    (updates,) = send_all(app_url, carol.session_cookie()["value"], [(cancel, {"download_id": bobs, "item_id": 0})])
    assert "That download no longer exists." in json.dumps(updates)
    assert _sql("SELECT i.status, i.cancel_requested FROM youtube_download_items i WHERE i.download_id = %s",
                bobs) == [("downloading", False)]
    assert _sql("SELECT count(*) FROM audit_log WHERE action = 'download.cancelled'") == [(0,)]
    expect(_card(bob_page, bobs).locator(".download-state")).to_have_text("Downloading")

    # alice sees everyone's downloads and the queue, and cancels carol's.
    page = alice.page
    page.goto("/admin/downloads")
    listing = page.locator("#admin-download-list")
    expect(listing.locator(".download-card")).to_have_count(2, timeout=30_000)
    expect(page.locator("#download-queue")).to_contain_text("bob")
    expect(page.locator("#download-queue")).to_contain_text("carol")
    expect(_card(page, carols)).to_contain_text("carol")
    expect(_card(page, bobs)).to_contain_text("bob")
    _card(page, carols).locator(".download-cancel").click()
    expect(page.get_by_text("Large file (1) was cancelled.")).to_be_visible()
    expect(_card(page, carols).locator(".download-state")).to_have_text("Cancelled", timeout=LIVE)
    expect(_card(carol_page, carols).locator(".download-state")).to_have_text("Cancelled", timeout=LIVE)
    expect(_card(bob_page, bobs).locator(".download-state")).to_have_text("Downloading")
    assert _sql("SELECT u.username, d.status FROM youtube_downloads d JOIN users u ON u.id = d.user_id "
                "ORDER BY d.id") == [("bob", "running"), ("carol", "cancelled")]
    (audit,) = _sql("SELECT actor_user_id, target FROM audit_log WHERE action = 'download.cancelled'")
    assert audit == (_sql("SELECT id FROM users WHERE username = 'alice'")[0][0], f"download:{carols}")

    # bob stops his too (nothing is left running for the next journey).
    _card(bob_page, bobs).locator(".download-cancel").click()
    expect(_card(bob_page, bobs).locator(".download-state")).to_have_text("Cancelled", timeout=LIVE)
    expect(page.locator("#queue-empty")).to_be_visible(timeout=LIVE)
    _eventually(lambda: _files(downloads_root) == [])


def test_plex_stopped_pauses_new_downloads_with_the_reason_and_they_resume_when_it_is_back(
        journeys, video_site, plex_sims, downloads_root):
    alice = journeys()
    setup_household(alice)
    bob = _member(journeys, "bob")
    page = _downloads_page(bob)
    plex_sims.sim.set_faults("pms", status=503, path_prefix="/")  # Plex stops answering at all
    try:
        # MediaNest's own status check (every second here) finds Plex not answering.
        _eventually(lambda: _sql("SELECT value->>'up' FROM system_settings WHERE key = 'plex_reachability'")
                    == [("false",)], timeout_s=30)
        download_id = _send(page, f"{video_site.url}/videos/sunrise", "Sunrise (1)")
        card = _card(page, download_id)
        expect(card.locator(".download-state")).to_have_text("Paused", timeout=LIVE)
        expect(card.locator(".download-note")).to_have_text(
            re.compile(r"^Paused: Plex is not answering since \d\d:\d\d UTC$"))
        assert _sql("SELECT status FROM youtube_download_items") == [("paused",)]
        assert _videos(downloads_root) == []  # nothing was fetched while Plex was down
        # The admin's System page says what waits and why.
        alice.page.goto("/admin/system")
        expect(alice.page.locator("#paused-downloads-paused")).to_have_text(
            re.compile(r"^1 video waiting\. Paused: Plex is not answering since \d\d:\d\d UTC\.$"), timeout=30_000)
    finally:
        plex_sims.sim.clear_faults()
    # Plex is back: the next status check sees it, the watchdog (every 30 s) resumes the queue.
    expect(card.locator(".download-state")).to_have_text("Done", timeout=90_000)
    assert _videos(downloads_root) == ["bob/Sunrise (1)/Sunrise (1) [sunrise-1].mp4"]
    expect(page.locator(".notice", has_text="Sunrise (1) is in Plex")).to_be_visible(timeout=LIVE)
