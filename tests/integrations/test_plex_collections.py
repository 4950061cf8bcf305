"""``PlexServerClient`` for downloads landing in Plex, over real HTTP against the PMS simulator
whose "YouTube" section points at a tmp downloads folder: find the section, scan one folder,
wait for its items, build a collection of exactly those items, follow deleted files."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pybreaker
import pytest

from medianest.errors import IntegrationRejected
from medianest.integrations.plex import LibraryCollection, LibraryItem, PlexServerClient
from medianest.simulators import fixtures
from medianest.simulators.plex import SimulatorHandle, serve_in_thread

T = TypeVar("T")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


@pytest.fixture(scope="module")
def downloads_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def pms_sims(downloads_root: Path) -> Iterator[SimulatorHandle]:
    handle = serve_in_thread(downloads_root=downloads_root, scan_delay=0.05)
    yield handle
    handle.stop()


@pytest.fixture
def pms(pms_sims: SimulatorHandle, downloads_root: Path) -> SimulatorHandle:
    """The simulators at their fixtures, with an empty downloads folder."""
    for child in downloads_root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    pms_sims.sim.reset()
    pms_sims.sim.clear_faults()
    return pms_sims


@pytest.fixture
def client(pms: SimulatorHandle) -> PlexServerClient:
    # A private breaker, so failures provoked here never open the shared "Plex" one.
    return PlexServerClient(pms.pms_url, token="sim-alice-token", client_id="medianest-test",
                            breaker=pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected]))


async def _eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 5.0) -> T:
    """Poll ``probe`` until ``done`` holds: scans are asynchronous (§2.7)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            assert done(value), f"still {value!r}"
            return value
        await asyncio.sleep(0.05)


def _download(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / name for name in names]
    for path in files:
        path.write_bytes(b"\0" * 128)
    return files


async def _scanned(client: PlexServerClient, section: str, folder: Path, count: int) -> tuple[LibraryItem, ...]:
    await client.scan(section, str(folder))
    return await _eventually(lambda: client.items_under(section, str(folder)), lambda items: len(items) == count)


async def test_the_downloads_folder_maps_to_the_youtube_section(client: PlexServerClient, downloads_root: Path) -> None:
    section = await client.section_for_path(str(downloads_root / "Road Trip" / "001 - A [a].mp4"))
    assert section is not None
    assert (section.key, section.title, section.type, section.agent, section.scanner, section.locations) == (
        "3", "YouTube", "movie", "tv.plex.agents.none", "Plex Video Files Scanner", (str(downloads_root),))
    assert section in await client.sections()
    assert (await client.section_for_path(fixtures.DEFAULT_MOVIES_PATH + "/Heat (1995)")).title == "Movies"
    assert await client.section_for_path("/somewhere/else") is None
    assert await client.section_for_path(str(downloads_root) + "-other/x.mp4") is None


async def test_a_downloaded_playlist_becomes_a_collection(client: PlexServerClient, downloads_root: Path) -> None:
    folder = downloads_root / "Road Trip"
    first, second, third = _download(folder, "001 - Départ à l'aube [aa1].mp4", "002 - Highway [bb2].mkv",
                                      "003 - Arrival [cc3].webm")
    _download(folder, "004 - Still Downloading [dd4].mp4.part")
    (folder / "001 - Départ à l'aube [aa1].jpg").write_bytes(JPEG)
    _download(downloads_root / "Other list", "001 - Not Scanned [ee5].mp4")

    items = await _scanned(client, "3", folder, 3)
    assert [(i.index, i.title, i.type, i.section_key) for i in sorted(items, key=lambda i: i.index or 0)] == [
        (1, "Départ à l'aube", "movie", "3"), (2, "Highway", "movie", "3"), (3, "Arrival", "movie", "3")]
    by_title = {i.title: i for i in items}
    assert by_title["Highway"].files == (str(second),)
    # The thumbnail beside the file is the item's poster, through the image transcoder.
    image, content_type = await client.image(by_title["Départ à l'aube"].thumb or "", width=320, height=180)
    assert (content_type, image) == ("image/jpeg", JPEG)
    keys = [by_title[t].rating_key for t in ("Départ à l'aube", "Highway", "Arrival")]

    created = await client.create_collection("3", "Road Trip", keys[:2])
    assert isinstance(created, LibraryCollection)
    assert (created.title, created.section_key, created.subtype, created.child_count, created.smart) == (
        "Road Trip", "3", "movie", 2, False)
    await client.add_to_collection(created.rating_key, [keys[2], keys[0]])  # one new, one already in
    await client.remove_from_collection(created.rating_key, keys[0])
    assert [(c.rating_key, c.title, c.child_count) for c in await client.collections("3")] == [
        (created.rating_key, "Road Trip", 2)]
    assert [i.rating_key for i in await client.collection_items(created.rating_key)] == keys[1:]
    assert await client.collections("1") == ()

    # A file deleted on disk: the next scan of the folder drops the item, from the collection too.
    third.unlink()
    remaining = await _scanned(client, "3", folder, 2)
    assert {i.title for i in remaining} == {"Départ à l'aube", "Highway"}
    assert [i.title for i in await client.collection_items(created.rating_key)] == ["Highway"]
    assert first.exists()

    await client.delete_collection(created.rating_key)
    assert await client.collections("3") == ()
    assert len(await client.items_under("3", str(folder))) == 2  # the videos stay
    with pytest.raises(IntegrationRejected) as info:
        await client.delete_collection(created.rating_key)
    assert info.value.status_code == 404


async def test_a_collection_whose_files_are_all_gone_disappears(client: PlexServerClient,
                                                                 downloads_root: Path) -> None:
    folder = downloads_root / "Gone"
    _download(folder, "001 - One [g1].mp4", "002 - Two [g2].mp4")
    items = await _scanned(client, "3", folder, 2)
    collection = await client.create_collection("3", "Gone", [i.rating_key for i in items])
    shutil.rmtree(folder)
    await _scanned(client, "3", folder, 0)
    assert await client.collections("3") == ()
    with pytest.raises(IntegrationRejected) as info:
        await client.collection_items(collection.rating_key)
    assert info.value.status_code == 404


async def test_long_playlists_are_sent_in_chunks_and_read_in_pages(client: PlexServerClient, pms: SimulatorHandle,
                                                                   downloads_root: Path) -> None:
    videos = [pms.sim.add_movie(f"Clip {n:03d}", section_key=3, file=f"{downloads_root}/Long/{n:03d} - Clip.mp4")
              for n in range(1, 251)]
    keys = [str(v.rating_key) for v in videos]
    created = await client.create_collection("3", "Long", keys)
    assert created.child_count == 250
    assert [i.rating_key for i in await client.collection_items(created.rating_key)] == keys
    assert len(await client.items_under("3", f"{downloads_root}/Long")) == 250


async def test_items_under_lists_episodes_of_show_sections(client: PlexServerClient) -> None:
    episodes = await client.items_under("2", f"{fixtures.DEFAULT_TV_PATH}/Breaking Bad/")
    assert len(episodes) == 5 and {e.type for e in episodes} == {"episode"}
    assert all(e.files[0].startswith(f"{fixtures.DEFAULT_TV_PATH}/Breaking Bad/") for e in episodes)
    heat = await client.items_under("1", f"{fixtures.DEFAULT_MOVIES_PATH}/Heat (1995)")
    assert [i.title for i in heat] == ["Heat"]
    assert await client.items_under("1", f"{fixtures.DEFAULT_MOVIES_PATH}/Heat") == ()  # a folder, not a prefix


async def test_refusals_and_malformed_arguments(client: PlexServerClient, downloads_root: Path) -> None:
    for call in (lambda: client.scan("1/../2"), lambda: client.scan("3", " "), lambda: client.items_under("x", "/"),
                 lambda: client.create_collection("3", "Empty", []),
                 lambda: client.create_collection("3", "  ", ["101"]),
                 lambda: client.create_collection("3", "Bad", ["101&x=1"]),
                 lambda: client.remove_from_collection("1", "two"), lambda: client.delete_collection("")):
        with pytest.raises(ValueError):
            await call()
    # Items of another section, an unknown item, an unknown collection: Plex refuses.
    with pytest.raises(IntegrationRejected) as info:
        await client.create_collection("3", "Movies here", ["101"])
    assert info.value.status_code == 400
    with pytest.raises(IntegrationRejected) as info:
        await client.create_collection("3", "Nothing", ["99999"])
    assert info.value.status_code == 404
    for call in (lambda: client.add_to_collection("99999", ["101"]), lambda: client.collection_items("99999"),
                 lambda: client.remove_from_collection("99999", "101")):
        with pytest.raises(IntegrationRejected) as info:
            await call()
        assert info.value.status_code == 404
    with pytest.raises(IntegrationRejected) as info:
        await client.scan("9")
    assert info.value.status_code == 404
