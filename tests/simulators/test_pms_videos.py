"""The PMS simulator's "YouTube" section (an Other Videos library) over real HTTP: scans title
files as the Plex Video Files Scanner does, take the thumbnail beside a file, skip files still
being written, and empty the trash after every scan (items, their collection entries and the
collections left empty)."""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from medianest.simulators import fixtures
from medianest.simulators.plex import PlexSim, SimulatorHandle

JSON = {"Accept": "application/json"}
VIDEOS = 3
# The smallest valid JPEG header is enough: the simulator serves the bytes as they are.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x000\x01\x00\x9d\x01*\x01\x00\x01\x00"


def _container(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["MediaContainer"]


def _uri(*keys: int | str) -> str:
    return (f"server://{fixtures.HOUSEHOLD_MACHINE_ID}/com.plexapp.plugins.library/library/metadata/"
            f"{','.join(map(str, keys))}")


def _videos(pms: httpx.Client) -> dict[str, dict]:
    data = _container(pms.get(f"/library/sections/{VIDEOS}/all", headers=JSON))
    return {m["title"]: m for m in data.get("Metadata", [])}


def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _scan(pms: httpx.Client, path: Path | None = None) -> None:
    params = {"path": str(path)} if path is not None else {}
    assert pms.get(f"/library/sections/{VIDEOS}/refresh", params=params).status_code == 200
    # Poll for the end of the scan (the refresh is asynchronous, §2.7).
    _wait_for(lambda: not _container(pms.get("/library/sections", headers=JSON))["Directory"][2]["refreshing"])


def _playlist(library_root: Path, name: str = "Road Trip") -> Path:
    folder = library_root / "YouTube" / name
    folder.mkdir(parents=True)
    return folder


def test_scan_titles_videos_from_their_file_names(pms: httpx.Client, library_root: Path) -> None:
    folder = _playlist(library_root)
    (folder / "001 - First Song [dQw4w9WgXcQ].mp4").write_bytes(b"\0" * 1500)
    (folder / "002 - Ünïcödé：AC⧸DC – Live ♫ (1991) [x_Y-9z].mkv").write_bytes(b"\0" * 10)
    (folder / "Loose clip.webm").write_bytes(b"\0")
    # Downloads still being written and hidden files are never imported.
    for name in ("003 - Third [id3].mp4.part", "004 - Fourth [id4].mp4.ytdl", "005 - Fifth [id5].temp.mp4",
                 ".006 - Hidden [id6].mp4", "007 - Frag [id7].mp4.part-Frag1"):
        (folder / name).write_bytes(b"\0")
    other = _playlist(library_root, "Other list")
    (other / "001 - Elsewhere [e1].mp4").write_bytes(b"\0")

    _scan(pms, folder)
    videos = _wait_for(lambda: _videos(pms))
    assert sorted(videos) == ["First Song", "Loose clip", "Ünïcödé：AC⧸DC – Live ♫ (1991)"]
    first = videos["First Song"]
    assert (first["type"], first["index"], first["librarySectionID"]) == ("movie", 1, VIDEOS)
    assert first["guid"] == f"local://{first['ratingKey']}" and "year" not in first
    part = first["Media"][0]["Part"][0]
    assert (part["file"], part["size"]) == (str(folder / "001 - First Song [dQw4w9WgXcQ].mp4"), 1500)
    assert videos["Ünïcödé：AC⧸DC – Live ♫ (1991)"]["index"] == 2
    assert "index" not in videos["Loose clip"]

    xml = ET.fromstring(pms.get(f"/library/sections/{VIDEOS}/all").content)
    assert {v.get("title") for v in xml.findall("Video")} == set(videos)

    # A full refresh picks up the other playlist and imports nothing twice.
    _scan(pms)
    assert sorted(_wait_for(lambda: len(_videos(pms)) == 4 and _videos(pms))) == [
        "Elsewhere", "First Song", "Loose clip", "Ünïcödé：AC⧸DC – Live ♫ (1991)"]


def test_thumbnail_beside_the_file_is_the_items_thumb(pms: httpx.Client, library_root: Path) -> None:
    folder = _playlist(library_root)
    (folder / "001 - Pictured [a1].mp4").write_bytes(b"\0")
    (folder / "001 - Pictured [a1].jpg").write_bytes(JPEG)
    (folder / "002 - Webp [a2].mkv").write_bytes(b"\0")
    (folder / "002 - Webp [a2].webp").write_bytes(WEBP)
    (folder / "003 - Plain [a3].mp4").write_bytes(b"\0")
    _scan(pms, folder)
    videos = _wait_for(lambda: len(_videos(pms)) == 3 and _videos(pms))

    pictured = pms.get(videos["Pictured"]["thumb"])
    assert pictured.status_code == 200
    assert (pictured.headers["content-type"], pictured.content) == ("image/jpeg", JPEG)
    webp = pms.get(videos["Webp"]["thumb"])
    assert (webp.headers["content-type"], webp.content) == ("image/webp", WEBP)
    plain = pms.get(videos["Plain"]["thumb"])
    assert plain.headers["content-type"] == "image/png"  # no image beside it: the placeholder

    # The transcoder serves the file's image too (unscaled: the simulator has no image library).
    resized = pms.get("/photo/:/transcode", params={"url": videos["Pictured"]["thumb"], "width": 120,
                                                     "height": 68, "minSize": 1, "upscale": 1})
    assert (resized.status_code, resized.headers["content-type"], resized.content) == (200, "image/jpeg", JPEG)
    placeholder = pms.get("/photo/:/transcode", params={"url": videos["Plain"]["thumb"], "width": 120, "height": 68})
    assert placeholder.headers["content-type"] == "image/png"

    # A thumbnail that appears later is picked up by the next scan, under a new thumb URL.
    (folder / "003 - Plain [a3].png").write_bytes(b"\x89PNG\r\n\x1a\nlocal")
    _scan(pms, folder)
    plain_after = _videos(pms)["Plain"]
    assert plain_after["thumb"] != videos["Plain"]["thumb"]
    assert pms.get(plain_after["thumb"]).content == b"\x89PNG\r\n\x1a\nlocal"


def test_scan_removes_items_whose_files_are_gone_and_empties_collections(
        pms: httpx.Client, library_root: Path) -> None:
    folder = _playlist(library_root)
    names = [f"00{n} - Video {n} [v{n}].mp4" for n in (1, 2, 3)]
    for name in names:
        (folder / name).write_bytes(b"\0")
    _scan(pms, folder)
    videos = _wait_for(lambda: len(_videos(pms)) == 3 and _videos(pms))
    keys = [videos[f"Video {n}"]["ratingKey"] for n in (1, 2, 3)]
    mix = _container(pms.post("/library/collections", headers=JSON, params={
        "type": 1, "title": "Road Trip", "smart": 0, "sectionId": VIDEOS, "uri": _uri(*keys)}))["Metadata"][0]
    pair = _container(pms.post("/library/collections", params={
        "type": 1, "title": "Pair", "smart": 0, "sectionId": VIDEOS, "uri": _uri(keys[0])}, headers=JSON))
    pair_key = pair["Metadata"][0]["ratingKey"]

    (folder / names[0]).unlink()
    _scan(pms, folder)
    assert sorted(_videos(pms)) == ["Video 2", "Video 3"]
    assert pms.get(f"/library/metadata/{keys[0]}").status_code == 404
    members = _container(pms.get(f"/library/collections/{mix['ratingKey']}/items", headers=JSON))["Metadata"]
    assert [m["ratingKey"] for m in members] == keys[1:]
    # "Pair" lost its only item: like Plex, an emptied collection goes.
    assert pms.get(f"/library/collections/{pair_key}/items").status_code == 404
    listed = _container(pms.get(f"/library/sections/{VIDEOS}/collections", headers=JSON))["Metadata"]
    assert [(c["title"], c["childCount"]) for c in listed] == [("Road Trip", 2)]

    # A whole playlist folder deleted: a full refresh empties the section and the collection goes.
    shutil.rmtree(folder)
    _scan(pms)
    assert _videos(pms) == {}
    assert _container(pms.get(f"/library/sections/{VIDEOS}/collections", headers=JSON)).get("Metadata") is None


def test_an_unavailable_location_is_not_emptied(pms: httpx.Client, simulators: SimulatorHandle,
                                               library_root: Path, tmp_path: Path) -> None:
    folder = _playlist(library_root)
    (folder / "001 - Kept [k1].mp4").write_bytes(b"\0")
    _scan(pms, folder)
    _wait_for(lambda: _videos(pms))
    # The disk goes away (an unmounted share): Plex keeps the items rather than trashing them.
    (library_root / "YouTube").rename(tmp_path / "away")
    _scan(pms)
    assert list(_videos(pms)) == ["Kept"]
    assert pms.put(f"/library/sections/{VIDEOS}/emptyTrash").status_code == 200


def test_movies_and_episodes_follow_their_files_too(pms: httpx.Client, library_root: Path) -> None:
    movie = library_root / "Movies" / "Gone Film (2020)"
    movie.mkdir(parents=True)
    (movie / "Gone Film (2020).mkv").write_bytes(b"\0")
    (movie / "Gone Film (2020).jpg").write_bytes(JPEG)
    season = library_root / "TV Shows" / "Brief Show (2022)" / "Season 01"
    season.mkdir(parents=True)
    (season / "Brief Show - S01E01 - One.mkv").write_bytes(b"\0")
    pms.get("/library/sections/1/refresh")
    pms.get("/library/sections/2/refresh")

    def titles(section: int) -> set[str]:
        return {m["title"] for m in _container(pms.get(f"/library/sections/{section}/all", headers=JSON))["Metadata"]}

    _wait_for(lambda: "Gone Film" in titles(1) and "Brief Show" in titles(2))
    film = next(m for m in _container(pms.get("/library/sections/1/all", headers=JSON))["Metadata"]
                if m["title"] == "Gone Film")
    assert pms.get(film["thumb"]).content == JPEG
    shutil.rmtree(movie)
    shutil.rmtree(library_root / "TV Shows" / "Brief Show (2022)")
    pms.get("/library/sections/1/refresh")
    pms.get("/library/sections/2/refresh")
    _wait_for(lambda: "Gone Film" not in titles(1) and "Brief Show" not in titles(2))
    # The fixtures stand for files on another disk: scans never remove them.
    assert len(titles(1)) == 12 and len(titles(2)) == 4


def test_items_carry_their_collection_tags(pms: httpx.Client) -> None:
    created = _container(pms.post("/library/collections", headers=JSON, params={
        "type": 1, "title": "Heist", "smart": 0, "sectionId": 1, "uri": _uri(101, 103)}))["Metadata"][0]
    rk = int(created["ratingKey"])
    heat = _container(pms.get("/library/metadata/101", headers=JSON))["Metadata"][0]
    assert heat["Collection"] == [{"id": rk, "filter": f"collection={rk}", "tag": "Heist"}]
    listed = ET.fromstring(pms.get("/library/sections/1/all").content)
    tagged = {v.get("title"): [c.get("tag") for c in v.findall("Collection")] for v in listed.findall("Video")}
    assert tagged["Heat"] == ["Heist"] and tagged["Alien"] == []
    # The tag's filter lists the collection's items, as in Plex.
    members = _container(pms.get("/library/sections/1/all", params={"collection": rk}, headers=JSON))["Metadata"]
    assert sorted(m["ratingKey"] for m in members) == ["101", "103"]
    pms.delete(f"/library/collections/{rk}/items/101")
    assert "Collection" not in _container(pms.get("/library/metadata/101", headers=JSON))["Metadata"][0]


def test_downloads_root_is_the_videos_sections_folder(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    sim = PlexSim(library_root=tmp_path / "library", downloads_root=downloads)
    assert sim.section(VIDEOS).locations == [str(downloads)] and downloads.is_dir()
    assert (tmp_path / "library" / "Movies").is_dir() and not (tmp_path / "library" / "YouTube").exists()
    (downloads / "Mix").mkdir()
    (downloads / "Mix" / "001 - Direct [d1].mp4").write_bytes(b"\0")
    assert [(i.title, i.index) for i in sim.scan(VIDEOS, str(downloads / "Mix"))] == [("Direct", 1)]
    assert PlexSim().section(VIDEOS).locations == ["/data/youtube"]
