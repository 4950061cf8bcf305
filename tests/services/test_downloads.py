"""The downloads service on PostgreSQL with real yt-dlp against the demo video site: preview,
rows saved before anything runs, fair claims, the state machine, cancel, retry, the hourly
limit, hostile links, the watchdog."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from medianest.config import get_settings
from medianest.db import session_scope
from medianest.errors import NotFound, RateLimited, ValidationFailed
from medianest.integrations import ytdlp
from medianest.models import DownloadState, ItemState, User, YoutubeDownload, YoutubeDownloadItem, utcnow
from medianest.services.downloads import members, runner, views
from medianest.simulators.video_site import serve_in_thread
from tests.factories import make_user


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    handle = serve_in_thread(data_dir=tmp_path_factory.mktemp("video-site"))
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
async def warm_children_closed():
    """Each test leaves no warm yt-dlp child behind (a worker closes its own when it stops)."""
    yield
    await runner.close_children()


@pytest.fixture
def settings(tmp_path: Path):
    return get_settings().model_copy(update={
        "downloads_root": tmp_path / "downloads", "downloads_allow_private": True,
        "downloads_allowed_hosts": "127.0.0.1", "downloads_min_free_mb": 0})


async def _member(db, name: str) -> User:
    user = make_user(db, username=name)
    await db.commit()
    await db.refresh(user)
    return user


def _fake_preview(n: int, source: str = "pl") -> ytdlp.Preview:
    entries = tuple(ytdlp.PreviewEntry(index=i, id=f"{source}-{i}", title=f"Clip {i}", duration_s=3.0,
                                       url=f"http://127.0.0.1:9/{source}-{i}.mp4", thumbnail_url=None, filesize=None)
                    for i in range(1, n + 1))
    return ytdlp.Preview(kind="playlist", id=source, title=f"List {source}", uploader=None, thumbnail_url=None,
                         duration_s=None, webpage_url=f"http://127.0.0.1:9/{source}", entries=entries,
                         total_count=n, estimated_bytes=None, truncated=False)


async def test_a_playlist_is_saved_then_each_chosen_item_lands_on_disk(db, site, settings):
    bob = await _member(db, "bob")
    found = await members.preview(f"{site.url}/playlists/demo", settings=settings)
    assert found.kind == "playlist" and len(found.entries) == 3
    chosen = (found.entries[0].id, found.entries[2].id)
    download, item_ids = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                              choice=members.Choice(entry_ids=chosen), settings=settings)
    # Saved (committed) before anything runs.
    async with session_scope() as other:
        rows = (await other.exec(select(YoutubeDownloadItem).where(
            YoutubeDownloadItem.download_id == download.id))).all()
    assert sorted(r.entry_id for r in rows) == sorted(chosen) and len(item_ids) == 2
    assert all(r.status == ItemState.QUEUED.value for r in rows)

    outcomes = [await runner.run_next(settings) for _ in range(3)]
    assert [o.state for o in outcomes] == [ItemState.DONE.value, ItemState.DONE.value, ""]
    assert outcomes[1].ready_for_plex and not outcomes[0].ready_for_plex
    async with session_scope() as other:
        saved = await other.get(YoutubeDownload, download.id)
        items = (await other.exec(select(YoutubeDownloadItem).where(
            YoutubeDownloadItem.download_id == download.id))).all()
    assert saved.status == DownloadState.ADDING.value
    folder = settings.downloads_dir / "bob" / found.title
    files = sorted(p.name for p in folder.iterdir() if p.suffix == ".mp4")
    assert len(files) == 2 and files[0].startswith("01 - ") and files[1].startswith("03 - ")
    assert all(Path(i.file_path).is_file() and Path(i.file_path).parent == folder for i in items)
    assert not (settings.downloads_dir / ".tmp" / f"item-{items[0].id}").exists()


async def test_hostile_links_are_refused_and_nothing_is_saved(db, settings):
    for url in ("file:///etc/passwd", "javascript:alert(1)", "http://169.254.169.254/latest/meta-data",
                "https://evil.example/playlist?list=x", ""):
        strict = settings.model_copy(update={"downloads_allow_private": False, "downloads_allowed_hosts": ""})
        with pytest.raises(ValidationFailed) as refused:
            await members.preview(url, settings=strict)
        assert "Traceback" not in refused.value.user_message and refused.value.user_message.endswith(".")
    assert (await db.exec(select(YoutubeDownload))).all() == []


async def test_the_sixth_download_in_an_hour_is_refused_with_the_wait(db, settings):
    carol = await _member(db, "carol")
    for n in range(5):
        await members.submit(db, user_id=carol.id, username="carol", found=_fake_preview(1, f"s{n}"),
                             choice=members.Choice(entry_ids=(f"s{n}-1",)), settings=settings)
    with pytest.raises(RateLimited) as refused:
        await members.submit(db, user_id=carol.id, username="carol", found=_fake_preview(1, "s5"),
                             choice=members.Choice(entry_ids=("s5-1",)), settings=settings)
    assert "5 downloads in the last hour" in refused.value.user_message and "minute" in refused.value.user_message
    assert len((await db.exec(select(YoutubeDownload).where(YoutubeDownload.user_id == carol.id))).all()) == 5


async def test_bad_choices_change_nothing(db, settings):
    bob = await _member(db, "bob")
    found = _fake_preview(3)
    for choice in (members.Choice(entry_ids=()), members.Choice(entry_ids=("nope",)),
                   members.Choice(entry_ids=("pl-1",), quality="8k")):
        with pytest.raises(ValidationFailed):
            await members.submit(db, user_id=bob.id, username="bob", found=found, choice=choice, settings=settings)
    assert (await db.exec(select(YoutubeDownload))).all() == []


async def test_a_waiting_single_video_goes_before_the_rest_of_a_long_playlist(db, settings):
    alice, bob = await _member(db, "alice"), await _member(db, "bob")
    await members.submit(db, user_id=alice.id, username="alice", found=_fake_preview(5, "long"),
                         choice=members.Choice(entry_ids=tuple(f"long-{i}" for i in range(1, 6))), settings=settings)
    await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1, "one"),
                         choice=members.Choice(entry_ids=("one-1",)), settings=settings)
    async with session_scope() as session:
        first = await runner.claim(session, settings=settings)
        second = await runner.claim(session, settings=settings)
        third = await runner.claim(session, settings=settings)
    async with session_scope() as session:
        owners = [(await session.get(YoutubeDownloadItem, i)).user_id for i in (first, second, third)]
    # alice's oldest first; then bob (nothing of his runs) before alice's second; then alice.
    assert owners == [alice.id, bob.id, alice.id]


async def test_cancel_a_running_download_stops_within_two_seconds_and_leaves_no_partial_file(db, site, settings):
    bob = await _member(db, "bob")
    found = await members.preview(f"{site.url}/playlists/large", settings=settings)
    download, _ids = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                          choice=members.Choice(entry_ids=(found.entries[0].id,)), settings=settings)
    running = asyncio.create_task(runner.run_next(settings))
    async with session_scope() as session:
        for _ in range(100):
            item = (await session.exec(select(YoutubeDownloadItem).where(
                YoutubeDownloadItem.download_id == download.id))).one()
            await session.refresh(item)
            if item.status == ItemState.DOWNLOADING.value:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # mid-file
    started = time.monotonic()
    async with session_scope() as session:
        await members.cancel(session, download.id, user_id=bob.id, is_admin=False)
    outcome = await asyncio.wait_for(running, 10)
    assert time.monotonic() - started < 2.5
    assert outcome.state == ItemState.CANCELLED.value
    root = settings.downloads_dir
    leftovers = [p for p in root.rglob("*") if p.is_file() and ".archives" not in p.parts]
    assert leftovers == []
    async with session_scope() as session:
        assert (await session.get(YoutubeDownload, download.id)).status == DownloadState.CANCELLED.value


async def test_a_failed_entry_is_shown_and_retried_alone(db, site, settings):
    bob = await _member(db, "bob")
    found = await members.preview(f"{site.url}/playlists/broken", settings=settings)
    download, _ids = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                          choice=members.Choice(entry_ids=tuple(e.id for e in found.entries)),
                                          settings=settings)
    states = sorted([(await runner.run_next(settings)).state for _ in range(3)])
    assert states == [ItemState.DONE.value, ItemState.DONE.value, ItemState.FAILED.value]
    async with session_scope() as session:
        failed = (await session.exec(select(YoutubeDownloadItem).where(
            YoutubeDownloadItem.status == ItemState.FAILED.value))).one()
        assert failed.position == 2 and "404" in (failed.error or "") and "ERROR" not in (failed.error or "")
        assert (await session.get(YoutubeDownload, download.id)).status == DownloadState.ADDING.value
        again_download, again = await members.retry(session, download.id, user_id=bob.id, is_admin=False)
    assert again == [failed.id] and again_download.status == DownloadState.RUNNING.value


async def test_a_member_cannot_touch_another_members_download(db, settings):
    bob, carol = await _member(db, "bob"), await _member(db, "carol")
    download, _ = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1),
                                       choice=members.Choice(entry_ids=("pl-1",)), settings=settings)
    for act in (members.cancel, members.retry):
        with pytest.raises(NotFound):
            await act(db, download.id, user_id=carol.id, is_admin=False)
    with pytest.raises(NotFound):
        await members.forget(db, download.id, user_id=carol.id, is_admin=False, settings=settings)
    # An admin may cancel it.
    cancelled = await members.cancel(db, download.id, user_id=carol.id, is_admin=True)
    assert cancelled.status == DownloadState.CANCELLED.value


async def test_the_watchdog_puts_back_an_item_whose_worker_vanished(db, settings):
    bob = await _member(db, "bob")
    download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1),
                                                choice=members.Choice(entry_ids=("pl-1",)), settings=settings)
    async with session_scope() as session:
        assert await runner.claim(session, settings=settings) == item_id
        item = await session.get(YoutubeDownloadItem, item_id)
        item.lease_until = utcnow() - timedelta(seconds=1)  # the worker was killed: no renewal came
        session.add(item)
        await session.commit()
        again = await runner.watchdog(session, settings=settings)
        await session.refresh(item)
    assert again == [item_id] and item.status == ItemState.QUEUED.value and item.claimed_by is None


async def test_a_playlist_kept_in_sync_gets_only_its_new_entry(db, site, settings):
    from medianest.services.downloads import sync, to_plex

    bob = await _member(db, "bob")
    try:
        found = await members.preview(f"{site.url}/playlists/demo", settings=settings)
        download, _ = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                           choice=members.Choice(entry_ids=tuple(e.id for e in found.entries)),
                                           settings=settings)
        assert [(await runner.run_next(settings)).state for _ in range(3)] == [ItemState.DONE.value] * 3
        async with session_scope() as session:
            assert await to_plex.finish(session, download.id, plex=None, settings=settings,
                                        machine_id=None) == DownloadState.DONE.value
            await members.set_sync(session, download.id, user_id=bob.id, is_admin=False, on=True)
            row = await session.get(YoutubeDownload, download.id)
            row.synced_at = utcnow() - timedelta(hours=settings.downloads_sync_hours + 1)
            session.add(row)
            await session.commit()
        site.site.add_entry("demo", title="Brand new")
        async with session_scope() as session:
            assert await sync.due(session, settings=settings) == [download.id]
            new = await sync.sync_one(session, download.id, settings=settings)
            assert len(new) == 1 and await sync.due(session, settings=settings) == []
        outcome = await runner.run_next(settings)
        assert outcome.state == ItemState.DONE.value and outcome.ready_for_plex
        assert (await runner.run_next(settings)).state == ""  # nothing else was queued
        folder = settings.downloads_dir / "bob" / found.title
        assert len([p for p in folder.iterdir() if p.suffix == ".mp4"]) == 4
        archive = (settings.downloads_dir / ".archives" / f"member-{bob.id}.txt").read_text().split()
        assert len([line for line in archive if line.startswith("demo-")]) == 4
    finally:
        site.site.reset()


async def test_a_nearly_full_disk_pauses_new_items_and_they_resume_with_room(db, settings):
    bob = await _member(db, "bob")
    download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1),
                                                choice=members.Choice(entry_ids=("pl-1",)), settings=settings)
    full = settings.model_copy(update={"downloads_min_free_mb": 10**12})  # more than any disk has
    async with session_scope() as session:
        assert await runner.claim(session, settings=full) is None
        item = await session.get(YoutubeDownloadItem, item_id)
        assert item.status == ItemState.PAUSED.value and item.error == runner.PAUSED_NOTE
        assert await runner.watchdog(session, settings=full) == []  # still no room: stays paused
        assert await runner.watchdog(session, settings=settings) == [item_id]
        await session.refresh(item)
    assert item.status == ItemState.QUEUED.value and item.error is None


async def test_a_claim_lasts_the_configured_lease_and_is_renewed_every_sixth_of_it(db, settings):
    bob = await _member(db, "bob")
    _download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1),
                                                 choice=members.Choice(entry_ids=("pl-1",)), settings=settings)
    short = settings.model_copy(update={"downloads_lease_s": 12.0})
    async with session_scope() as session:
        assert await runner.claim(session, settings=short) == item_id
        item = await session.get(YoutubeDownloadItem, item_id)
    left = (item.lease_until.replace(tzinfo=utcnow().tzinfo) - utcnow()).total_seconds()
    assert 10 < left <= 12
    assert runner.renew_every_s(short) == 2.0 and runner.renew_every_s(settings) == 10.0


async def test_a_worker_that_lost_its_claim_stops_and_records_nothing(db, site, settings):
    bob = await _member(db, "bob")
    found = await members.preview(f"{site.url}/playlists/large", settings=settings)
    _download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                                 choice=members.Choice(entry_ids=(found.entries[0].id,)),
                                                 settings=settings)
    running = asyncio.create_task(runner.run_next(settings))
    async with session_scope() as session:
        for _ in range(100):
            item = await session.get(YoutubeDownloadItem, item_id, populate_existing=True)
            if item.status == ItemState.DOWNLOADING.value:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        # Its lease ran out (say the database was out of reach), the watchdog put the item back
        # and another worker took it: this one must stop without touching the row or the files.
        item.claimed_by, item.attempts = "elsewhere-1", item.attempts + 1
        session.add(item)
        await session.commit()
    outcome = await asyncio.wait_for(running, 10)
    assert outcome.state == ""
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
    assert (item.status, item.claimed_by, item.attempts) == (ItemState.DOWNLOADING.value, "elsewhere-1", 2)
    assert [p for p in settings.downloads_dir.rglob("*") if p.is_file() and p.suffix == ".mp4"] == []


async def test_an_item_whose_file_landed_before_its_worker_died_adopts_that_file(db, site, settings):
    bob = await _member(db, "bob")
    found = await members.preview(f"{site.url}/playlists/demo", settings=settings)
    download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                                choice=members.Choice(entry_ids=(found.entries[0].id,)),
                                                settings=settings)
    assert (await runner.run_next(settings)).state == ItemState.DONE.value
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
        landed = Path(item.file_path)
        # As if the worker was killed after yt-dlp moved the file and wrote the archive line,
        # before the row said so: the watchdog queued the item again.
        item.status, item.file_path, item.finished_at = ItemState.QUEUED.value, None, None
        session.add(item)
        await session.commit()
    outcome = await runner.run_next(settings)
    async with session_scope() as session:
        item = await session.get(YoutubeDownloadItem, item_id)
    assert outcome.state == ItemState.DONE.value and Path(item.file_path) == landed and landed.is_file()
    assert len([p for p in landed.parent.iterdir() if p.suffix == ".mp4"]) == 1  # not downloaded twice


async def test_plex_down_pauses_the_queue_with_the_reason_and_it_resumes_by_itself(db, settings):
    import re

    bob = await _member(db, "bob")
    _download, (item_id,) = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1),
                                                 choice=members.Choice(entry_ids=("pl-1",)), settings=settings)
    async with session_scope() as session:  # MediaNest's own status check found Plex not answering
        assert await runner.record_plex_reach(session, up=False)
        assert not await runner.record_plex_reach(session, up=False)  # no change, "since" kept
        await session.commit()
    async with session_scope() as session:
        assert await runner.claim(session, settings=settings) is None
        item = await session.get(YoutubeDownloadItem, item_id)
        assert item.status == ItemState.PAUSED.value
        assert re.fullmatch(r"Paused: Plex is not answering since \d\d:\d\d UTC", item.error)
        card = (await views.cards_for(session, user_id=bob.id))[0]
        assert card.label == "Paused" and card.note == item.error
        assert await runner.watchdog(session, settings=settings) == []  # still down
        assert await runner.record_plex_reach(session, up=True)
        await session.commit()
    async with session_scope() as session:
        assert await runner.watchdog(session, settings=settings) == [item_id]
        assert await runner.claim(session, settings=settings) == item_id


async def test_a_video_twice_in_a_playlist_is_downloaded_once(db, settings):
    bob = await _member(db, "bob")
    found = _fake_preview(2, "dup")
    twice = found.entries + (found.entries[0],)
    found = ytdlp.Preview(**{**found.__dict__, "entries": twice, "total_count": 3})
    _download, item_ids = await members.submit(db, user_id=bob.id, username="bob", found=found,
                                               choice=members.Choice(entry_ids=("dup-1", "dup-2")), settings=settings)
    assert len(item_ids) == 2


async def test_removing_downloads_does_not_reset_the_hourly_limit(db, settings):
    carol = await _member(db, "carol")
    for n in range(5):
        download, _ = await members.submit(db, user_id=carol.id, username="carol", found=_fake_preview(1, f"r{n}"),
                                           choice=members.Choice(entry_ids=(f"r{n}-1",)), settings=settings)
        await members.cancel(db, download.id, user_id=carol.id, is_admin=False)
        await members.forget(db, download.id, user_id=carol.id, is_admin=False, settings=settings)
    assert (await db.exec(select(YoutubeDownload))).all() == []
    with pytest.raises(RateLimited):
        await members.submit(db, user_id=carol.id, username="carol", found=_fake_preview(1, "r5"),
                             choice=members.Choice(entry_ids=("r5-1",)), settings=settings)


async def test_each_members_next_item_competes_however_long_a_queue_is(db, settings):
    alice, bob = await _member(db, "alice"), await _member(db, "bob")
    many = settings.model_copy(update={"downloads_max_entries": 600, "downloads_per_hour": 50})
    for n in range(3):
        await members.submit(db, user_id=alice.id, username="alice", found=_fake_preview(200, f"a{n}"),
                             choice=members.Choice(entry_ids=tuple(f"a{n}-{i}" for i in range(1, 201))),
                             settings=many)
    await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(1, "b"),
                         choice=members.Choice(entry_ids=("b-1",)), settings=many)
    async with session_scope() as session:
        first = await runner.claim(session, settings=many)
        second = await runner.claim(session, settings=many)
        owners = [(await session.get(YoutubeDownloadItem, i)).user_id for i in (first, second)]
    assert owners == [alice.id, bob.id]  # bob's single video is not behind alice's 600


async def test_the_last_two_items_ending_together_still_complete_the_download(db, settings, monkeypatch):
    """With two slots the last two items of a playlist may end in the same instant: each settles the
    download from all its items, and the later must see the earlier's item done (found by
    bench/downloads.py: the download stayed "running" for good)."""
    bob = await _member(db, "bob")
    download, item_ids = await members.submit(db, user_id=bob.id, username="bob", found=_fake_preview(2),
                                              choice=members.Choice(entry_ids=("pl-1", "pl-2")), settings=settings)
    async with session_scope() as session:
        assert {await runner.claim(session, settings=settings) for _ in item_ids} == set(item_ids)
    # Hold each ending just after it has read the items, until the other one has read them too
    # (or 1 s has passed): without the download's row lock both read before either commits.
    real_items_of, arrived, both = members.items_of, [], asyncio.Event()

    async def items_of_then_wait(session, download_id):
        items = await real_items_of(session, download_id)
        arrived.append(download_id)
        if len(arrived) == 2:
            both.set()
        try:
            await asyncio.wait_for(both.wait(), 1.0)
        except TimeoutError:
            pass
        return items

    monkeypatch.setattr(members, "items_of", items_of_then_wait)
    outcomes = await asyncio.gather(*(runner._finish(runner.Claim(i, 1), ItemState.DONE.value) for i in item_ids))
    async with session_scope() as other:
        saved = await other.get(YoutubeDownload, download.id)
    assert saved.status == DownloadState.ADDING.value
    assert [o.ready_for_plex for o in outcomes].count(True) == 1
