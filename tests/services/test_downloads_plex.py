"""A finished download reaches Plex: the PMS simulator scans just its folder, the collection holds
exactly its items, the member is told; with Plex not answering it waits and finishes later."""

from __future__ import annotations

import asyncio

import pybreaker
import pytest
from sqlmodel import select

from medianest.config import get_settings
from medianest.errors import IntegrationRejected
from medianest.integrations.plex import PlexServerClient
from medianest.models import DownloadState, ItemState, Notification, YoutubeDownload, YoutubeDownloadItem
from medianest.services.downloads import to_plex
from medianest.simulators.plex import serve_in_thread
from tests.factories import make_user

OWNER_TOKEN = "sim-alice-token"


@pytest.fixture(scope="module")
def downloads_root(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def pms(downloads_root, tmp_path_factory):
    handle = serve_in_thread(library_root=tmp_path_factory.mktemp("library"), downloads_root=downloads_root,
                             scan_delay=0.1)
    yield handle
    handle.stop()


def _client(url: str) -> PlexServerClient:
    return PlexServerClient(url, token=OWNER_TOKEN, client_id="medianest-test", timeout=3,
                            breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))


async def _finished_download(db, root, member: str, title: str, n: int) -> YoutubeDownload:
    user = make_user(db, username=member)
    await db.commit()
    folder = root / member / title
    folder.mkdir(parents=True)
    download = YoutubeDownload(user_id=user.id, url="http://127.0.0.1/x", kind="playlist", source_id=title,
                               title=title, folder=f"{member}/{title}", make_collection=True,
                               status=DownloadState.ADDING.value)
    db.add(download)
    await db.commit()
    for i in range(1, n + 1):
        path = folder / f"{i:02d} - Clip {i} [{title}-{i}].mp4"
        path.write_bytes(b"\0" * 1000)
        (folder / f"{i:02d} - Clip {i} [{title}-{i}].jpg").write_bytes(b"\xff\xd8\xff\xd9")
        db.add(YoutubeDownloadItem(download_id=download.id, user_id=user.id, position=i, entry_id=f"{title}-{i}",
                                   title=f"Clip {i}", url="http://127.0.0.1/x", status=ItemState.DONE.value,
                                   file_path=str(path)))
    await db.commit()
    return download


async def test_the_collection_holds_exactly_the_downloaded_items_and_the_member_is_told(db, pms, downloads_root):
    settings = get_settings().model_copy(update={"downloads_root": downloads_root})
    download = await _finished_download(db, downloads_root, "bob", "Road trip", 2)
    state = await to_plex.finish(db, download.id, plex=_client(pms.pms_url), settings=settings,
                                 machine_id="abc")
    assert state == DownloadState.DONE.value
    await db.refresh(download)
    plex = _client(pms.pms_url)
    section = next(s for s in await plex.sections() if s.title == "YouTube")
    collections = [c for c in await plex.collections(section.key) if c.title == "Road trip"]
    assert len(collections) == 1 and download.collection_key == collections[0].rating_key
    items = await plex.collection_items(collections[0].rating_key)
    assert sorted(i.title for i in items) == ["Clip 1", "Clip 2"]
    notice = (await db.exec(select(Notification).where(Notification.user_id == download.user_id))).one()
    assert notice.title == "Road trip is in Plex" and notice.link_label == "Watch in Plex"
    assert f"%2Flibrary%2Fmetadata%2F{download.collection_key}" in (notice.link or "")


async def test_plex_down_at_the_end_waits_then_finishes_when_it_is_back(db, pms, downloads_root):
    settings = get_settings().model_copy(update={"downloads_root": downloads_root})
    download = await _finished_download(db, downloads_root, "carol", "Hikes", 1)
    state = await to_plex.finish(db, download.id, plex=_client("http://127.0.0.1:9"), settings=settings,
                                 machine_id="abc")
    await db.refresh(download)
    assert state == DownloadState.WAITING_PLEX.value and download.note.startswith("Waiting for Plex")
    assert download.id in await to_plex.waiting(db)
    state = await to_plex.finish(db, download.id, plex=_client(pms.pms_url), settings=settings, machine_id="abc")
    assert state == DownloadState.DONE.value


async def test_removing_a_download_deletes_its_files_rows_archive_lines_and_plex_collection(db, pms, downloads_root):
    from medianest.services.downloads import members

    settings = get_settings().model_copy(update={"downloads_root": downloads_root})
    download = await _finished_download(db, downloads_root, "dave", "Old list", 2)
    archive = downloads_root / ".archives" / f"member-{download.user_id}.txt"
    archive.parent.mkdir(exist_ok=True)
    archive.write_text("html5mediaembed Old list-1\nhtml5mediaembed Old list-2\nhtml5mediaembed kept-1\n")
    plex = _client(pms.pms_url)
    assert await to_plex.finish(db, download.id, plex=plex, settings=settings, machine_id="abc") == "done"
    await db.refresh(download)
    key = download.collection_key
    row, items = await members.forget(db, download.id, user_id=download.user_id, is_admin=False, settings=settings)
    await to_plex.tidy_removed(plex, settings, row.folder, row.collection_key)
    assert not (downloads_root / "dave" / "Old list").exists()
    assert archive.read_text() == "html5mediaembed kept-1\n"
    left_rows = await db.exec(select(YoutubeDownloadItem).where(YoutubeDownloadItem.download_id == download.id))
    assert left_rows.all() == []
    section = next(s for s in await plex.sections() if s.title == "YouTube")
    assert key not in {c.rating_key for c in await plex.collections(section.key)}
    for _ in range(50):  # the rescan drops the items of the deleted files
        left = await plex.items_under(section.key, f"{section.locations[0]}/dave/Old list")
        if not left:
            break
        await asyncio.sleep(0.1)
    assert left == ()


async def test_two_plex_steps_at_once_make_one_collection(db, pms, downloads_root):
    settings = get_settings().model_copy(update={"downloads_root": downloads_root})
    download = await _finished_download(db, downloads_root, "erin", "Twice", 2)
    from medianest.db import session_scope

    async def step():
        async with session_scope() as session:
            return await to_plex.finish(session, download.id, plex=_client(pms.pms_url), settings=settings,
                                        machine_id="abc")

    states = await asyncio.gather(step(), step())
    assert sorted(states) == ["adding_to_plex", "done"]  # the second found the step taken
    plex = _client(pms.pms_url)
    section = next(s for s in await plex.sections() if s.title == "YouTube")
    assert [c.title for c in await plex.collections(section.key)].count("Twice") == 1
    notices = (await db.exec(select(Notification).where(Notification.user_id == download.user_id))).all()
    assert len(notices) == 1
