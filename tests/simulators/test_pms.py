"""The Plex Media Server simulator over real HTTP."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from medianest.simulators import fixtures
from medianest.simulators.plex import SimulatorHandle

HOUSEHOLD = fixtures.HOUSEHOLD_MACHINE_ID
JSON = {"Accept": "application/json"}


def _container(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["MediaContainer"]


def _uri(*keys: int, machine: str = HOUSEHOLD) -> str:
    return f"server://{machine}/com.plexapp.plugins.library/library/metadata/{','.join(map(str, keys))}"


def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# ---- basics -------------------------------------------------------------------------


def test_identity_needs_no_token(simulators: SimulatorHandle) -> None:
    data = _container(httpx.get(f"{simulators.pms_url}/identity", headers=JSON))
    assert data["machineIdentifier"] == HOUSEHOLD and data["claimed"] is True and data["size"] == 0
    xml = httpx.get(f"{simulators.pms_url}/identity")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "MediaContainer" and root.get("machineIdentifier") == HOUSEHOLD


@pytest.mark.parametrize("token", [None, "wrong", "sim-mallory-token", "sim-bob-token"])
def test_requests_without_a_server_token_are_401(simulators: SimulatorHandle, token: str | None) -> None:
    headers = {"X-Plex-Token": token} if token else {}
    response = httpx.get(f"{simulators.pms_url}/library/sections", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")


def test_token_accepted_as_query_param_and_share_token_works(simulators: SimulatorHandle) -> None:
    for token in ("sim-alice-token", "sim-bob-household-token", "sim-carol-household-token"):
        response = httpx.get(f"{simulators.pms_url}/library/sections", params={"X-Plex-Token": token})
        assert response.status_code == 200, token


def test_root_describes_the_server(pms: httpx.Client) -> None:
    root = ET.fromstring(pms.get("/").content)
    assert root.get("machineIdentifier") == HOUSEHOLD
    assert root.get("friendlyName") == "Household"
    assert root.get("version") == fixtures.PMS_VERSION


def test_sections_xml_and_json(pms: httpx.Client, library_root: Path) -> None:
    root = ET.fromstring(pms.get("/library/sections").content)
    directories = root.findall("Directory")
    assert [(d.get("key"), d.get("type"), d.get("title")) for d in directories] == [
        ("1", "movie", "Movies"), ("2", "show", "TV Shows"), ("3", "movie", "YouTube")]
    assert directories[0].find("Location").get("path") == str(library_root / "Movies")
    assert directories[0].get("refreshing") == "0"

    data = _container(pms.get("/library/sections", headers=JSON))
    assert data["size"] == 3
    assert data["Directory"][1]["Location"][0]["path"] == str(library_root / "TV Shows")
    assert (data["Directory"][0]["agent"], data["Directory"][0]["language"]) == ("tv.plex.agents.movie", "en-US")
    # An "Other Videos" library: no agent to match against, files titled by the video files scanner.
    videos = data["Directory"][2]
    assert (videos["agent"], videos["scanner"], videos["language"]) == (
        "tv.plex.agents.none", "Plex Video Files Scanner", "xn")
    assert [loc["path"] for loc in videos["Location"]] == [str(library_root / "YouTube")]
    assert (library_root / "YouTube").is_dir()


# ---- listing ------------------------------------------------------------------------


def test_section_all_sorted_by_title_sort_by_default(pms: httpx.Client) -> None:
    root = ET.fromstring(pms.get("/library/sections/1/all").content)
    videos = root.findall("Video")
    assert len(videos) == 12 and root.get("totalSize") == "12"
    assert all(v.get("type") == "movie" for v in videos)
    titles = [v.get("title") for v in videos]
    # "The Godfather" files under G and "The Matrix" under M, like Plex does.
    assert titles[:4] == ["Alien", "Arrival", "Blade Runner", "The Godfather"]
    assert titles.index("The Matrix") == titles.index("Mad Max: Fury Road") + 1
    assert videos[0].find("Guid") is None  # only with includeGuids=1
    assert videos[0].find("Media/Part").get("file").endswith("Alien (1979).mkv")


def test_section_all_sort_added_desc_with_guids(pms: httpx.Client) -> None:
    data = _container(pms.get("/library/sections/1/all",
                              params={"type": 1, "sort": "addedAt:desc", "includeGuids": 1}, headers=JSON))
    added = [m["addedAt"] for m in data["Metadata"]]
    assert added == sorted(added, reverse=True)
    heat = next(m for m in data["Metadata"] if m["title"] == "Heat")
    assert {g["id"] for g in heat["Guid"]} == {"imdb://tt0113277", "tmdb://949"}
    assert heat["year"] == 1995 and heat["ratingKey"] == "101"
    assert heat["thumb"].startswith("/library/metadata/101/thumb/")

    titles = [m["title"] for m in _container(pms.get(
        "/library/sections/1/all", params={"sort": "titleSort:desc"}, headers=JSON))["Metadata"]]
    assert titles[0] == "Spirited Away" and titles[-1] == "Alien"


def test_section_all_types_and_filters(pms: httpx.Client) -> None:
    shows = ET.fromstring(pms.get("/library/sections/2/all").content).findall("Directory")
    assert {s.get("type") for s in shows} == {"show"} and len(shows) == 4
    breaking_bad = next(s for s in shows if s.get("title") == "Breaking Bad")
    assert breaking_bad.get("leafCount") == "5" and breaking_bad.get("childCount") == "2"

    episodes = _container(pms.get("/library/sections/2/all", params={"type": 4}, headers=JSON))["Metadata"]
    assert len(episodes) == 15 and {e["type"] for e in episodes} == {"episode"}

    threshold = fixtures.FIXTURE_EPOCH + 15 * 86400
    recent = _container(pms.get("/library/sections/1/all", params={"addedAt>>": threshold}, headers=JSON))
    assert recent["totalSize"] == 4
    assert all(m["addedAt"] > threshold for m in recent["Metadata"])
    assert _container(pms.get("/library/sections/1/all", params={"title": "matrix"}, headers=JSON)
                      )["Metadata"][0]["title"] == "The Matrix"
    assert pms.get("/library/sections/9/all").status_code == 404


@pytest.mark.parametrize("via", ["headers", "query"])
def test_container_paging(pms: httpx.Client, via: str) -> None:
    paging = {"X-Plex-Container-Start": "5", "X-Plex-Container-Size": "4"}
    kwargs = {"headers": {**JSON, **paging}} if via == "headers" else {"headers": JSON, "params": paging}
    response = pms.get("/library/sections/1/all", **kwargs)
    data = _container(response)
    assert (data["offset"], data["size"], data["totalSize"]) == (5, 4, 12)
    assert len(data["Metadata"]) == 4
    assert response.headers["X-Plex-Container-Start"] == "5"
    assert response.headers["X-Plex-Container-Total-Size"] == "12"
    full = _container(pms.get("/library/sections/1/all", headers=JSON))["Metadata"]
    assert [m["ratingKey"] for m in data["Metadata"]] == [m["ratingKey"] for m in full[5:9]]

    counted = _container(pms.get("/library/sections/1/all", headers={**JSON, "X-Plex-Container-Size": "0"}))
    assert counted["size"] == 0 and counted["totalSize"] == 12


def test_recently_added_across_sections(pms: httpx.Client) -> None:
    data = _container(pms.get("/library/recentlyAdded", headers={**JSON, "X-Plex-Container-Size": "5"}))
    items = data["Metadata"]
    assert len(items) == 5
    added = [m["addedAt"] for m in items]
    assert added == sorted(added, reverse=True)
    assert {m["type"] for m in _container(pms.get("/library/recentlyAdded", headers=JSON))["Metadata"]} == {
        "movie", "episode"}


def test_metadata_and_children(pms: httpx.Client) -> None:
    movie = _container(pms.get("/library/metadata/102", headers=JSON))["Metadata"][0]
    assert movie["title"] == "The Matrix" and movie["titleSort"] == "Matrix"
    assert {g["id"] for g in movie["Guid"]} == {"imdb://tt0133093", "tmdb://603"}

    show = ET.fromstring(pms.get("/library/metadata/201").content).find("Directory")
    assert show.get("type") == "show" and show.get("key") == "/library/metadata/201/children"
    seasons = ET.fromstring(pms.get("/library/metadata/201/children").content).findall("Directory")
    assert [s.get("title") for s in seasons] == ["Season 1", "Season 2"]
    episodes = ET.fromstring(pms.get(f"/library/metadata/{seasons[0].get('ratingKey')}/children").content
                             ).findall("Video")
    assert [e.get("title") for e in episodes][0] == "Pilot"
    assert episodes[0].get("grandparentTitle") == "Breaking Bad"
    assert (episodes[0].get("parentIndex"), episodes[0].get("index")) == ("1", "1")
    assert pms.get("/library/metadata/99999").status_code == 404


def test_search_hubs(pms: httpx.Client) -> None:
    hubs = _container(pms.get("/hubs/search", params={"query": "THE", "limit": 10}, headers=JSON))["Hub"]
    by_type = {h["type"]: h for h in hubs}
    assert {m["title"] for m in by_type["movie"]["Metadata"]} == {"The Matrix", "The Godfather"}
    assert [m["title"] for m in by_type["show"]["Metadata"]] == ["The Office"]
    assert "The Blind Banker" in {m["title"] for m in by_type["episode"]["Metadata"]}

    limited = _container(pms.get("/hubs/search", params={"query": "the", "limit": 1}, headers=JSON))["Hub"]
    movie_hub = next(h for h in limited if h["type"] == "movie")
    assert movie_hub["size"] == 1 and movie_hub["more"] is True

    only_tv = _container(pms.get("/hubs/search", params={"query": "the", "sectionId": 2}, headers=JSON))["Hub"]
    assert "movie" not in {h["type"] for h in only_tv}

    xml = ET.fromstring(pms.get("/hubs/search", params={"query": "heat"}).content)
    assert xml.find("Hub").get("hubIdentifier") == "movie"
    assert xml.find("Hub/Video").get("title") == "Heat"
    assert pms.get("/hubs/search").status_code == 400


# ---- refresh ------------------------------------------------------------------------


def _movie_titles(pms: httpx.Client) -> set[str]:
    return {m["title"] for m in _container(pms.get("/library/sections/1/all", headers=JSON))["Metadata"]}


def test_refresh_imports_a_dropped_movie(pms: httpx.Client, library_root: Path) -> None:
    folder = library_root / "Movies" / "Some Film (2021) {tmdb-424242}"
    folder.mkdir(parents=True)
    (folder / "Some Film (2021).mkv").write_bytes(b"\0" * 2048)
    (folder / "Some Film (2021).mkv.part").write_bytes(b"partial download")
    assert "Some Film" not in _movie_titles(pms)
    before = time.time()

    assert pms.get("/library/sections/1/refresh").status_code == 200
    section = _container(pms.get("/library/sections", headers=JSON))["Directory"][0]
    assert section["refreshing"] is True

    _wait_for(lambda: "Some Film" in _movie_titles(pms))
    _wait_for(lambda: not _container(pms.get("/library/sections", headers=JSON))["Directory"][0]["refreshing"])
    newest = _container(pms.get("/library/sections/1/all", params={"sort": "addedAt:desc", "includeGuids": 1},
                                headers=JSON))["Metadata"][0]
    assert newest["title"] == "Some Film" and newest["year"] == 2021
    assert newest["addedAt"] >= int(before)
    assert newest["Guid"] == [{"id": "tmdb://424242"}]
    assert newest["Media"][0]["Part"][0]["size"] == 2048
    assert len(_movie_titles(pms)) == 13  # the .part file was ignored

    # A second refresh does not import the same file again.
    pms.post("/library/sections/1/refresh")
    time.sleep(0.3)
    assert _container(pms.get("/library/sections/1/all", headers=JSON))["totalSize"] == 13


def test_refresh_with_path_limits_the_scan(pms: httpx.Client, library_root: Path, tmp_path: Path) -> None:
    for name in ("Alpha (2001)", "Beta (2002)"):
        (library_root / "Movies" / name).mkdir(parents=True)
        (library_root / "Movies" / name / f"{name}.mp4").write_bytes(b"x")
    pms.get("/library/sections/1/refresh", params={"path": str(library_root / "Movies" / "Alpha (2001)")})
    _wait_for(lambda: "Alpha" in _movie_titles(pms))
    assert "Beta" not in _movie_titles(pms)

    # Paths outside the section's folders are ignored, as Plex does.
    (tmp_path / "Gamma (2003).mkv").write_bytes(b"x")
    pms.get("/library/sections/1/refresh", params={"path": str(tmp_path)})
    time.sleep(0.3)
    assert "Gamma" not in _movie_titles(pms)


def test_refresh_imports_episodes_into_shows(pms: httpx.Client, library_root: Path) -> None:
    season = library_root / "TV Shows" / "New Show (2024)" / "Season 01"
    season.mkdir(parents=True)
    (season / "New Show - S01E02 - Second.mkv").write_bytes(b"x")
    existing = library_root / "TV Shows" / "Dark" / "Season 02"
    existing.mkdir(parents=True)
    (existing / "Dark - S02E03.mkv").write_bytes(b"x")
    pms.post("/library/sections/2/refresh")

    def new_show():
        shows = _container(pms.get("/library/sections/2/all", headers=JSON))["Metadata"]
        return next((s for s in shows if s["title"] == "New Show"), None)

    show = _wait_for(new_show)
    assert show["year"] == 2024 and show["leafCount"] == 1
    episode = _container(pms.get(f"/library/metadata/{show['ratingKey']}/allLeaves", headers=JSON))["Metadata"][0]
    assert (episode["parentIndex"], episode["index"], episode["title"]) == (1, 2, "Second")
    dark = next(s for s in _container(pms.get("/library/sections/2/all", headers=JSON))["Metadata"]
                if s["title"] == "Dark")
    assert dark["leafCount"] == 5


# ---- collections --------------------------------------------------------------------


def _create_collection(pms: httpx.Client, *keys: int, **overrides) -> httpx.Response:
    params = {"type": 1, "title": "Weekend", "smart": 0, "sectionId": 1, "uri": _uri(*keys), **overrides}
    return pms.post("/library/collections", params=params, headers=JSON)


def test_collection_lifecycle(pms: httpx.Client) -> None:
    created = _container(_create_collection(pms, 101, 102))["Metadata"][0]
    assert created["type"] == "collection" and created["subtype"] == "movie"
    assert created["title"] == "Weekend" and created["childCount"] == 2
    rk = created["ratingKey"]

    def members() -> list[str]:
        return [m["ratingKey"] for m in _container(pms.get(f"/library/collections/{rk}/items", headers=JSON)
                                                   ).get("Metadata", [])]

    assert members() == ["101", "102"]
    assert pms.put(f"/library/collections/{rk}/items", params={"uri": _uri(103, 101)}).status_code == 200
    assert members() == ["101", "102", "103"]
    assert pms.delete(f"/library/collections/{rk}/items/102").status_code == 200
    assert members() == ["101", "103"]
    assert pms.delete(f"/library/collections/{rk}/items/102").status_code == 404

    listed = _container(pms.get("/library/sections/1/collections", headers=JSON))["Metadata"]
    assert [(c["ratingKey"], c["childCount"]) for c in listed] == [(rk, 2)]
    xml = ET.fromstring(pms.get("/library/sections/1/collections").content)
    assert xml.find("Directory").get("type") == "collection"
    children = ET.fromstring(pms.get(f"/library/collections/{rk}/children").content)
    assert [v.get("title") for v in children.findall("Video")] == ["Heat", "Inception"]


@pytest.mark.parametrize("overrides", [
    {"uri": _uri(101, machine="0" * 40)},  # another server
    {"uri": _uri(101, 99999)},  # unknown item
    {"uri": "library://nonsense"},
    {"uri": _uri(101, 201)},  # mixed types / other section
    {"sectionId": 7},
    {"type": 2},  # type does not match the items
    {"title": ""},
])
def test_collection_create_rejects_bad_input(pms: httpx.Client, overrides: dict) -> None:
    params = {"type": 1, "title": "Bad", "smart": 0, "sectionId": 1, "uri": _uri(101), **overrides}
    assert pms.post("/library/collections", params=params).status_code == 400


def test_collection_add_errors(pms: httpx.Client) -> None:
    rk = _container(_create_collection(pms, 101))["Metadata"][0]["ratingKey"]
    assert pms.put("/library/collections/424242/items", params={"uri": _uri(101)}).status_code == 404
    assert pms.put(f"/library/collections/{rk}/items", params={"uri": _uri(101, machine="f" * 40)}
                   ).status_code == 400
    assert pms.put(f"/library/collections/{rk}/items", params={"uri": _uri(55555)}).status_code == 400
    assert pms.delete(f"/library/collections/{rk}").status_code == 200
    assert pms.get(f"/library/collections/{rk}/items").status_code == 404


# ---- images and faults --------------------------------------------------------------


def test_thumbnails_are_images(pms: httpx.Client) -> None:
    movie = _container(pms.get("/library/metadata/101", headers=JSON))["Metadata"][0]
    for path in (movie["thumb"], movie["art"]):
        response = pms.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")

    resized = pms.get("/photo/:/transcode", params={"url": movie["thumb"], "width": 300, "height": 450,
                                                     "minSize": 1, "upscale": 1})
    assert resized.status_code == 200 and resized.headers["content-type"] == "image/png"
    # PNG IHDR: width and height as big-endian ints right after the chunk type.
    assert int.from_bytes(resized.content[16:20], "big") == 300
    assert int.from_bytes(resized.content[20:24], "big") == 450
    assert pms.get("/photo/:/transcode").status_code == 400
    assert httpx.get(f"{pms.base_url}{movie['thumb']}").status_code == 401  # the token is required


def test_pms_faults(pms: httpx.Client, simulators: SimulatorHandle) -> None:
    assert pms.post("/__sim__/faults", json={"status": 503, "path_prefix": "/library"}).status_code == 200
    assert pms.get("/library/sections").status_code == 503
    assert pms.get("/identity").status_code == 200
    simulators.sim.set_faults("pms", outage=True)
    with pytest.raises(httpx.ReadTimeout):
        pms.get("/identity", timeout=0.3)
    assert pms.delete("/__sim__/faults").status_code == 200
    assert pms.get("/library/sections").status_code == 200
