"""Contract test: python-plexapi, a real Plex client, talks to the simulators over HTTP.

python-plexapi parses XML, so this checks that the simulators' XML is shaped like
Plex's (MediaContainer roots, ``Video``/``Directory``/``Hub`` elements, keys that resolve).
Its plex.tv URLs are hard-coded (``https://plex.tv/...``); a requests transport
adapter rewrites them to the plex.tv simulator so the account part runs too.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from plexapi.myplex import MyPlexAccount, MyPlexPinLogin
from plexapi.server import PlexServer
from requests.adapters import HTTPAdapter

from medianest.simulators import fixtures
from medianest.simulators.plex import SimulatorHandle

from .conftest import ALICE_TOKEN

HOUSEHOLD = fixtures.HOUSEHOLD_MACHINE_ID


class _RewritePlexTv(HTTPAdapter):
    """Send requests for https://plex.tv/… to the plex.tv simulator instead."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        parts = urlsplit(request.url)
        request.url = f"{self.target}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


@pytest.fixture
def plex_tv_session(simulators: SimulatorHandle) -> requests.Session:
    session = requests.Session()
    session.mount("https://plex.tv/", _RewritePlexTv(simulators.plex_tv_url))
    return session


@pytest.fixture
def server(simulators: SimulatorHandle) -> PlexServer:
    return PlexServer(simulators.pms_url, ALICE_TOKEN, timeout=5)


def test_connects_and_reads_identity(server: PlexServer) -> None:
    assert server.machineIdentifier == HOUSEHOLD
    assert server.friendlyName == "Household"
    assert server.version == fixtures.PMS_VERSION
    assert server.myPlexUsername == "alice@example.com"


def test_sections(server: PlexServer, library_root: Path) -> None:
    sections = server.library.sections()
    assert [(s.key, s.title, s.type) for s in sections] == [
        (1, "Movies", "movie"), (2, "TV Shows", "show"), (3, "YouTube", "movie")]
    assert sections[0].locations == [str(library_root / "Movies")]
    assert type(sections[0]).__name__ == "MovieSection" and type(sections[1]).__name__ == "ShowSection"
    videos = sections[2]
    assert type(videos).__name__ == "MovieSection"
    assert (videos.agent, videos.scanner, videos.language) == ("tv.plex.agents.none", "Plex Video Files Scanner", "xn")
    assert videos.locations == [str(library_root / "YouTube")]


def test_movies_all_and_guids(server: PlexServer) -> None:
    movies = server.library.section("Movies").all()
    assert len(movies) == 12
    assert {type(m).__name__ for m in movies} == {"Movie"}
    heat = next(m for m in movies if m.title == "Heat")
    assert heat.ratingKey == 101 and heat.year == 1995
    assert {g.id for g in heat.guids} == {"imdb://tt0113277", "tmdb://949"}
    assert heat.media[0].parts[0].file.endswith("Heat (1995).mkv")
    assert heat.librarySectionID == 1
    # The detail key resolves too (plexapi reloads partial objects through it).
    heat.reload()
    assert heat.summary.startswith("A seasoned detective")


def test_recently_added(server: PlexServer) -> None:
    recent = server.library.recentlyAdded()
    assert recent, "recentlyAdded returned nothing"
    added = [item.addedAt for item in recent]
    assert added == sorted(added, reverse=True)
    assert {type(i).__name__ for i in recent} == {"Movie", "Episode"}
    assert server.library.section("Movies").recentlyAdded(maxresults=3)[0].title == "Mad Max: Fury Road"


def test_search(server: PlexServer) -> None:
    assert [m.title for m in server.search("matrix")] == ["The Matrix"]
    results = server.search("the", limit=10)
    kinds = {(type(r).__name__, r.title) for r in results}
    assert ("Movie", "The Godfather") in kinds and ("Show", "The Office") in kinds
    assert ("Episode", "The Great Game") in kinds
    assert [m.title for m in server.search("the", mediatype="show")] == ["The Office"]


def test_shows_seasons_episodes(server: PlexServer) -> None:
    show = server.library.section("TV Shows").get("Breaking Bad")
    assert [s.index for s in show.seasons()] == [1, 2]
    episodes = show.episodes()
    assert len(episodes) == 5
    pilot = show.episode(season=1, episode=1)
    assert pilot.title == "Pilot" and pilot.grandparentTitle == "Breaking Bad"
    assert {g.id for g in show.guids} >= {"tvdb://81189"}


def test_collections_through_plexapi(server: PlexServer) -> None:
    movies = server.library.section("Movies")
    heat, inception, alien = movies.get("Heat"), movies.get("Inception"), movies.get("Alien")
    collection = server.createCollection("Watch later", movies, [heat, inception])
    assert collection.title == "Watch later" and collection.subtype == "movie"
    assert [i.title for i in collection.items()] == ["Heat", "Inception"]

    collection.addItems(alien)
    collection.removeItems(heat)
    fresh = movies.collection("Watch later")
    assert [i.title for i in fresh.items()] == ["Inception", "Alien"]
    fresh.delete()
    assert movies.collections() == []


def test_update_imports_new_file(server: PlexServer, library_root: Path) -> None:
    folder = library_root / "Movies" / "Brand New (2025)"
    folder.mkdir(parents=True)
    (folder / "Brand New (2025).mp4").write_bytes(b"x")
    movies = server.library.section("Movies")
    movies.update(path=str(folder))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = movies.search(title="Brand New")
        if found:
            break
        time.sleep(0.05)
    assert [(m.title, m.year) for m in found] == [("Brand New", 2025)]
    # Filters and sorts go through plexapi's validation against the section's Meta block.
    assert [m.title for m in movies.search(year=2025)] == ["Brand New"]
    assert [m.title for m in movies.search(filters={"addedAt>>": "1d"}, sort="addedAt:desc")] == ["Brand New"]


def test_thumb_url_serves_an_image(server: PlexServer) -> None:
    heat = server.library.section("Movies").get("Heat")
    response = requests.get(server.url(heat.thumb, includeToken=True), timeout=5)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    transcoded = requests.get(server.transcodeImage(heat.thumb, 120, 180), timeout=5)
    assert transcoded.status_code == 200 and transcoded.content.startswith(b"\x89PNG")


def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _download(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\0" * 64)


def test_youtube_section_scan_through_plexapi(server: PlexServer, library_root: Path) -> None:
    folder = library_root / "YouTube" / "Mix"
    _download(folder, "001 - Opening Night [aa1].mp4", "002 - Zürich – Encore [bb2].mkv", "003 - Late [cc3].mp4.part")
    (folder / "001 - Opening Night [aa1].jpg").write_bytes(b"\xff\xd8\xff\xe0thumb\xff\xd9")
    videos = server.library.section("YouTube")
    videos.update(path=str(folder))
    items = _wait_for(lambda: len(videos.all()) == 2 and videos.all())
    # python-plexapi's Movie has no ``index``; the track number is on the element itself.
    assert sorted((v._data.get("index"), v.title, type(v).__name__) for v in items) == [
        ("1", "Opening Night", "Movie"), ("2", "Zürich – Encore", "Movie")]
    opening = next(v for v in items if v.title == "Opening Night")
    assert opening.media[0].parts[0].file == str(folder / "001 - Opening Night [aa1].mp4")
    assert opening.media[0].parts[0].size == 64
    thumb = requests.get(server.url(opening.thumb, includeToken=True), timeout=5)
    assert (thumb.headers["content-type"], thumb.content) == ("image/jpeg", b"\xff\xd8\xff\xe0thumb\xff\xd9")
    assert requests.get(server.transcodeImage(opening.thumb, 160, 90), timeout=5).content == thumb.content

    # The file goes, a rescan of the folder removes the item (trash emptied after every scan).
    (folder / "001 - Opening Night [aa1].mp4").unlink()
    videos.update(path=str(folder))
    assert [v.title for v in _wait_for(lambda: len(videos.all()) == 1 and videos.all())] == ["Zürich – Encore"]


def test_youtube_collections_through_plexapi(server: PlexServer, library_root: Path) -> None:
    folder = library_root / "YouTube" / "Playlist"
    _download(folder, "001 - One [v1].mp4", "002 - Two [v2].mp4", "003 - Three [v3].mp4")
    videos = server.library.section("YouTube")
    videos.update(path=str(folder))
    by_title = {v.title: v for v in _wait_for(lambda: len(videos.all()) == 3 and videos.all())}
    one, two, three = by_title["One"], by_title["Two"], by_title["Three"]

    collection = videos.createCollection("Playlist", items=[one, two])
    assert (collection.title, collection.subtype, collection.childCount) == ("Playlist", "movie", 2)
    assert [i.title for i in collection.items()] == ["One", "Two"]
    collection.addItems([three])
    collection.removeItems([one])
    listed = videos.collections()
    assert [(c.title, c.childCount) for c in listed] == [("Playlist", 2)]
    assert [i.title for i in listed[0].items()] == ["Two", "Three"]
    # Items carry the Collection tag, and the tag leads back to the collection.
    two.reload()
    assert [c.tag for c in two.collections] == ["Playlist"]
    assert two.collections[0].collection().ratingKey == collection.ratingKey
    assert one.reload().collections == []

    # A deleted file leaves the collection after a rescan; delete() removes the collection itself.
    (folder / "003 - Three [v3].mp4").unlink()
    videos.update(path=str(folder))
    _wait_for(lambda: len(videos.all()) == 2)
    assert [i.title for i in videos.collection("Playlist").items()] == ["Two"]
    videos.collection("Playlist").delete()
    assert videos.collections() == []
    assert sorted(v.title for v in videos.all()) == ["One", "Two"]  # the items stay


# ---- plex.tv through MyPlexAccount --------------------------------------------------


def test_myplex_account_and_resources(plex_tv_session: requests.Session, simulators: SimulatorHandle) -> None:
    account = MyPlexAccount(token=ALICE_TOKEN, session=plex_tv_session, timeout=5)
    assert (account.id, account.username, account.email) == (1001, "alice", "alice@example.com")
    assert account.uuid == "1454e41e93c2571c"

    resources = account.resources()
    names = {r.name: r for r in resources}
    assert set(names) == {"Household", "Alice's Laptop", "Alice's iPhone"}
    assert names["Household"].owned is True and names["Household"].clientIdentifier == HOUSEHOLD
    connected = names["Household"].connect(timeout=5)
    assert connected.machineIdentifier == HOUSEHOLD
    assert len(connected.library.section("Movies").all()) == 12

    users = {u.username: u for u in account.users()}
    assert set(users) == {"bob", "carol"}
    assert [s.machineIdentifier for s in users["bob"].servers] == [HOUSEHOLD]


def test_myplex_shared_user_connects_with_share_token(plex_tv_session: requests.Session) -> None:
    bob = MyPlexAccount(token="sim-bob-token", session=plex_tv_session, timeout=5)
    resource = bob.resource("Household")
    assert resource.owned is False and resource.ownerId == 1001 and resource.sourceTitle == "alice"
    assert resource.accessToken == "sim-bob-household-token"
    # python-plexapi skips local connections of shared servers; the remote one must work.
    server = resource.connect(timeout=5)
    assert server.machineIdentifier == HOUSEHOLD
    assert server.library.section("TV Shows").get("Dark").title == "Dark"


def test_myplex_pin_login(plex_tv_session: requests.Session, simulators: SimulatorHandle) -> None:
    login = MyPlexPinLogin(session=plex_tv_session, oauth=True, requestTimeout=5)
    url = login.oauthUrl(forwardUrl="http://medianest.test/callback")
    fragment = parse_qs(urlsplit(url).fragment.removeprefix("!?"))
    code = fragment["code"][0]
    assert len(code) == 25
    assert login.checkLogin() is False
    simulators.sim.approve_pin_by_code(code, "carol")
    assert login.checkLogin() is True
    assert login.token == "sim-carol-token"
