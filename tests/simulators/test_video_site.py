"""The demo video site, driven by the real yt-dlp (generic + html5 extractors only, offline) and
checked with the real ffprobe: previews, downloads, a 404 entry, throttling, dropped connections,
entries added at run time, byte ranges and the clip cache."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from yt_dlp import YoutubeDL
from yt_dlp.utils import DownloadCancelled, DownloadError

from medianest.simulators import video_site
from medianest.simulators.video_site import (
    BIG_ENTRY_BYTES,
    LARGE_ENTRY_BYTES,
    VideoSite,
    VideoSiteHandle,
    create_video_site_app,
    serve_in_thread,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-site-data")


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[VideoSiteHandle]:
    handle = serve_in_thread("127.0.0.1", 0, data_dir=data_dir)
    yield handle
    handle.stop()


@pytest.fixture
def site(served: VideoSiteHandle) -> Iterator[VideoSite]:
    served.site.reset()
    yield served.site
    served.site.reset()


class _Log:
    """A yt-dlp logger that keeps the errors and warnings."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def _ydl(home: Path | None = None, **options: Any) -> YoutubeDL:
    opts: dict[str, Any] = {
        "quiet": True, "no_warnings": True, "noprogress": True, "allowed_extractors": ["generic", "html5"],
        "socket_timeout": 10, "retries": 0, "logger": options.pop("logger", None) or _Log(),
    }
    if home is not None:
        opts["paths"] = {"home": str(home)}
    return YoutubeDL({**opts, **options})


def _preview(url: str) -> dict[str, Any]:
    with _ydl(extract_flat="in_playlist") as ydl:
        return ydl.sanitize_info(ydl.extract_info(url, download=False))


def _ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                           "stream=codec_type,codec_name:format=duration:format_tags=title", "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def test_demo_previews_as_a_three_entry_playlist(served: VideoSiteHandle, site: VideoSite) -> None:
    info = _preview(f"{served.url}/playlists/demo")
    assert info["_type"] == "playlist" and info["extractor"] == "generic"
    assert (info["id"], info["title"], info["playlist_count"]) == ("demo", "Demo playlist", 3)
    entries = info["entries"]
    assert [e["id"] for e in entries] == ["demo-1", "demo-2", "demo-3"]
    assert [e["title"] for e in entries] == ["Demo playlist (1)", "Demo playlist (2)", "Demo playlist (3)"]
    for n, entry in enumerate(entries, start=1):
        assert entry["url"] == f"{served.url}/media/demo-{n}.mp4" and entry["ext"] == "mp4"
        assert entry["thumbnail"] == f"{served.url}/thumbs/demo-{n}.jpg"
        assert entry["extractor_key"] == "HTML5MediaEmbed" and entry["playlist_index"] == n
        assert entry.get("duration") is None and entry.get("filesize") is None  # html5 does not know them
    thumb = httpx.get(entries[0]["thumbnail"], timeout=5)
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:3] == b"\xff\xd8\xff"


def test_downloading_demo_writes_three_playable_files(served: VideoSiteHandle, site: VideoSite,
                                                      tmp_path: Path) -> None:
    finished: list[dict[str, Any]] = []

    def hook(d: dict[str, Any]) -> None:
        if d["status"] == "finished":
            finished.append(d)

    with _ydl(tmp_path, outtmpl="%(playlist_index)03d - %(title)s [%(id)s].%(ext)s", progress_hooks=[hook]) as ydl:
        assert ydl.download([f"{served.url}/playlists/demo"]) == 0
    files = sorted(tmp_path.glob("*.mp4"))
    assert [f.name for f in files] == [f"00{n} - Demo playlist ({n}) [demo-{n}].mp4" for n in (1, 2, 3)]
    titles = []
    for path in files:
        probe = _ffprobe(path)
        assert sorted(s["codec_name"] for s in probe["streams"]) == ["aac", "h264"]
        assert 2.5 < float(probe["format"]["duration"]) < 3.5
        titles.append(probe["format"]["tags"]["title"])
    assert titles == ["Colour bars", "Test card", "Test card in blue"]  # the site's own titles, in the mp4
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in files}) == 3
    assert [d["total_bytes"] for d in finished] == [p.stat().st_size for p in files]


def test_broken_fails_only_on_entry_2_with_a_404(served: VideoSiteHandle, site: VideoSite, tmp_path: Path) -> None:
    log = _Log()
    done: list[str] = []

    def hook(d: dict[str, Any]) -> None:
        if d["status"] == "finished":
            done.append(d["info_dict"]["id"])

    with _ydl(tmp_path, logger=log, ignoreerrors=True, outtmpl="%(id)s.%(ext)s", progress_hooks=[hook]) as ydl:
        assert ydl.download([f"{served.url}/playlists/broken"]) == 1
    assert done == ["broken-1", "broken-3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-1.mp4", "broken-3.mp4"]
    assert len(log.errors) == 1 and "HTTP Error 404" in log.errors[0], log.errors
    # Without ignoreerrors the 404 stops the queue with a DownloadError carrying the HTTPError.
    with _ydl(tmp_path / "strict", playlist_items="2") as ydl, pytest.raises(DownloadError) as caught:
        ydl.download([f"{served.url}/playlists/broken"])
    assert "HTTP Error 404" in str(caught.value) and caught.value.exc_info[1].status == 404


def test_the_throttled_file_reports_growing_progress_with_a_known_total(served: VideoSiteHandle, site: VideoSite,
                                                                         tmp_path: Path) -> None:
    events: list[tuple[int, int | None, float]] = []

    def hook(d: dict[str, Any]) -> None:
        if d["status"] == "downloading":
            events.append((d["downloaded_bytes"], d.get("total_bytes"), time.monotonic()))
            if d["downloaded_bytes"] >= 700_000:
                raise DownloadCancelled("enough")

    with _ydl(tmp_path, progress_hooks=[hook]) as ydl, pytest.raises(DownloadCancelled):
        ydl.download([f"{served.url}/playlists/large"])
    sizes = [e[0] for e in events]
    assert len(events) >= 5 and sizes == sorted(set(sizes))
    assert {e[1] for e in events} == {LARGE_ENTRY_BYTES}
    # About 2 MB/s (loopback alone would take a few milliseconds for these 700 kB).
    rate = (events[-1][0] - events[0][0]) / (events[-1][2] - events[0][2])
    assert rate < 4_000_000, rate
    assert list(tmp_path.glob("*.part"))  # cancelled mid-file


def test_a_dropped_connection_fails_the_download(served: VideoSiteHandle, site: VideoSite, tmp_path: Path) -> None:
    site.set_media_fault("/media/demo-2.mp4", drop_after_bytes=4000)
    with _ydl(tmp_path, playlist_items="2", outtmpl="%(id)s.%(ext)s") as ydl, pytest.raises(DownloadError) as caught:
        ydl.download([f"{served.url}/playlists/demo"])
    assert "4000 bytes read" in str(caught.value)
    assert 0 < (tmp_path / "demo-2.mp4.part").stat().st_size <= 4000  # yt-dlp writes whole blocks only

    # Through the control endpoint, once: a retry resumes (Range) and completes the file.
    answer = httpx.post(f"{served.url}/__sim__/media-faults", timeout=5,
                        json={"path": "/media/demo-2.mp4", "drop_after_bytes": 3000, "times": 1})
    assert answer.status_code == 200 and answer.json()["media_faults"][0]["times"] == 1
    with _ydl(tmp_path / "retry", playlist_items="2", retries=2, outtmpl="%(id)s.%(ext)s") as ydl:
        assert ydl.download([f"{served.url}/playlists/demo"]) == 0
    retried = tmp_path / "retry" / "demo-2.mp4"
    assert retried.read_bytes() == httpx.get(f"{served.url}/media/demo-2.mp4", timeout=5).content
    assert httpx.get(f"{served.url}/__sim__/media-faults", timeout=5).json() == {"media_faults": []}


def test_an_entry_added_at_run_time_shows_up_in_a_new_preview(served: VideoSiteHandle, site: VideoSite,
                                                              tmp_path: Path) -> None:
    added = site.add_entry("demo", "Late arrival")
    assert (added.id, added.media_path) == ("demo-4", "/media/demo-4.mp4")
    answer = httpx.post(f"{served.url}/__sim__/playlists/demo/entries", json={"title": "Later still"}, timeout=30)
    assert answer.status_code == 201 and answer.json()["entry"]["id"] == "demo-5"
    assert httpx.post(f"{served.url}/__sim__/playlists/nope/entries", json={}, timeout=5).status_code == 404

    info = _preview(f"{served.url}/playlists/demo")
    assert [e["id"] for e in info["entries"]] == ["demo-1", "demo-2", "demo-3", "demo-4", "demo-5"]
    assert info["entries"][4]["title"] == "Demo playlist (5)"
    with _ydl(tmp_path, playlist_items="4", outtmpl="%(id)s.%(ext)s") as ydl:
        assert ydl.download([f"{served.url}/playlists/demo"]) == 0
    assert _ffprobe(tmp_path / "demo-4.mp4")["format"]["tags"]["title"] == "Late arrival"

    assert httpx.post(f"{served.url}/__sim__/reset", timeout=5).json()["reset"] is True
    assert _preview(f"{served.url}/playlists/demo")["playlist_count"] == 3


def test_range_requests_answer_206_with_the_right_bytes(served: VideoSiteHandle, site: VideoSite) -> None:
    url = f"{served.url}/media/demo-1.mp4"
    whole = httpx.get(url, timeout=5)
    size = len(whole.content)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert int(whole.headers["content-length"]) == size and whole.headers["accept-ranges"] == "bytes"
    for header, first, last in (("bytes=100-199", 100, 199), ("bytes=1000-", 1000, size - 1),
                                ("bytes=-10", size - 10, size - 1), (f"bytes=5-{size * 2}", 5, size - 1)):
        part = httpx.get(url, headers={"Range": header}, timeout=5)
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == whole.content[first:last + 1]
    refused = httpx.get(url, headers={"Range": f"bytes={size}-"}, timeout=5)
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{size}"


def test_big_is_ten_20_mib_files_checked_without_downloading(served: VideoSiteHandle, site: VideoSite) -> None:
    info = _preview(f"{served.url}/playlists/big")
    assert [e["id"] for e in info["entries"]] == [f"big-{n}" for n in range(1, 11)]
    head = httpx.head(f"{served.url}/media/big-7.mp4", timeout=5)
    assert head.status_code == 200 and head.headers["content-type"] == "video/mp4"
    assert int(head.headers["content-length"]) == BIG_ENTRY_BYTES
    start = httpx.get(f"{served.url}/media/big-7.mp4", headers={"Range": "bytes=0-11"}, timeout=5)
    assert start.status_code == 206 and start.content[4:12] == b"ftypisom"
    tail = httpx.get(f"{served.url}/media/big-7.mp4", headers={"Range": "bytes=-4"}, timeout=5)
    assert tail.headers["content-range"] == f"bytes {BIG_ENTRY_BYTES - 4}-{BIG_ENTRY_BYTES - 1}/{BIG_ENTRY_BYTES}"
    assert tail.content == b"\0\0\0\0"  # the padding box


def test_pages_without_video_and_missing_pages_fail_as_yt_dlp_says(served: VideoSiteHandle, site: VideoSite) -> None:
    with pytest.raises(DownloadError, match="Unsupported URL"):
        _preview(f"{served.url}/about")
    with pytest.raises(DownloadError, match="HTTP Error 404"):
        _preview(f"{served.url}/missing")
    assert httpx.get(f"{served.url}/", timeout=5).text.count("/playlists/") >= 4
    site.set_faults(status=503, path_prefix="/playlists/demo", times=1)
    with pytest.raises(DownloadError, match="HTTP Error 503"):
        _preview(f"{served.url}/playlists/demo")
    assert _preview(f"{served.url}/playlists/demo")["playlist_count"] == 3


def test_the_clip_cache_is_reused_and_repaired(served: VideoSiteHandle, data_dir: Path) -> None:
    cache = data_dir / "video-site"
    demo = cache / "demo-1.mp4"
    stamp = demo.stat().st_mtime_ns
    with serve_in_thread("127.0.0.1", 0, data_dir=data_dir) as second:
        assert second.site.media.generated == []
        assert httpx.get(f"{second.url}/media/demo-1.mp4", timeout=5).content == demo.read_bytes()
    assert demo.stat().st_mtime_ns == stamp

    os.truncate(demo, 100)  # a half-written file from a crash
    third = serve_in_thread("127.0.0.1", 0, data_dir=data_dir)
    try:
        assert third.site.media.generated == ["demo-1"]
        assert _ffprobe(demo)["format"]["tags"]["title"] == "Colour bars"
    finally:
        third.stop()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_routes_are_module_level_functions_and_modules_are_small(served: VideoSiteHandle) -> None:
    app = create_video_site_app(served.site)
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) >= 10
    for route in routes:
        target = inspect.unwrap(route.endpoint)
        assert "<locals>" not in target.__qualname__, target.__qualname__
        assert getattr(importlib.import_module(target.__module__), target.__name__) is target
    for path in Path(video_site.__file__).parent.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 500, path.name
