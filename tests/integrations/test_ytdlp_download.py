"""The yt-dlp seam against the demo video site (``medianest.simulators.video_site``): real yt-dlp in
a real child process, real files, ffmpeg and ffprobe. Also the error classifier fed with real
yt-dlp exceptions, and the pieces of the child that need no site."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from yt_dlp import YoutubeDL
from yt_dlp.utils import (
    DownloadCancelled,
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    PostProcessingError,
    UnavailableVideoError,
    UnsupportedError,
)

from medianest.integrations.ytdlp import (
    Cancelled,
    DiskFull,
    DownloadFailed,
    GeoBlocked,
    HttpError,
    ItemJob,
    LinkRefused,
    NetworkError,
    PostProcessingFailed,
    Preview,
    PrivateVideo,
    Progress,
    SignInRequired,
    TooLarge,
    UnsupportedLink,
    VideoUnavailable,
    download_item,
    preview,
    ytdlp_cli_command,
)
from medianest.integrations.ytdlp.classify import EntryRefused, TooLargeSignal, classify
from medianest.integrations.ytdlp.errors import PRIVATE_ADDRESS, error_from_kind, error_parts
from medianest.integrations.ytdlp.options import FORMATS
from medianest.integrations.ytdlp.preview import build_preview
from medianest.integrations.ytdlp.process import child_env
from medianest.integrations.ytdlp.worker import ItemRun, plan_attempts
from medianest.simulators.video_site import DEFAULT_LARGE_RATE, LARGE_ENTRY_BYTES

# Plain pages: pin yt-dlp to the generic and html5 extractors (saves ~1 s per call; one test
# below runs without the pin).
PINNED = ("generic", "html5")
HOSTS = ("127.0.0.1",)


# The site and its reset: tests/integrations/conftest.py.
pytestmark = pytest.mark.usefixtures("fresh_site")


def make_job(site, tmp_path: Path, page: str, expected_id: str, **changes: Any) -> ItemJob:
    values: dict[str, Any] = dict(
        url=f"{site.url}{page}", expected_id=expected_id, output_dir=tmp_path / "library", stem=expected_id,
        temp_dir=tmp_path / "scratch" / expected_id, allowed_hosts=HOSTS, allow_private=True, retries=0,
        socket_timeout=5, extractors=PINNED)
    values.update(changes)
    return ItemJob(**values)


async def run(job: ItemJob, *, cancel: asyncio.Event | None = None) -> tuple[Any, list[Progress]]:
    events: list[Progress] = []
    result = await download_item(job, on_progress=events.append, cancel=cancel or asyncio.Event())
    return result, events


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def ffprobe_tags(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, check=True, text=True).stdout
    return json.loads(out)


# ---- downloads ----------------------------------------------------------------------------

async def test_a_single_video_lands_under_its_stem_with_thumbnail_and_metadata(site, tmp_path):
    archive = tmp_path / "archive.txt"
    job = make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", stem="Sunrise 100% [morning]",
                   archive_path=archive, extractors=())  # unpinned: yt-dlp picks the extractor itself
    seen: list[Progress] = []

    async def on_progress(progress: Progress) -> None:  # an async callback is awaited
        seen.append(progress)

    result = await download_item(job, on_progress=on_progress, cancel=asyncio.Event())

    library = tmp_path / "library"
    assert result.path == library / "Sunrise 100% [morning].mp4"
    assert result.thumbnail_path == library / "Sunrise 100% [morning].jpg"
    assert sorted(p.name for p in library.iterdir()) == ["Sunrise 100% [morning].jpg", "Sunrise 100% [morning].mp4"]
    assert result.thumbnail_path.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert (result.skipped, result.video_id, result.title) == (False, "sunrise-1", "Sunrise (1)")
    assert result.size_bytes == result.path.stat().st_size
    assert (result.extractor, result.archive_key) == ("HTML5MediaEmbed", "html5mediaembed sunrise-1")
    assert archive.read_text().splitlines() == ["html5mediaembed sunrise-1"]
    probe = ffprobe_tags(result.path)
    assert probe["format"]["tags"]["title"] == "Sunrise (1)"
    assert probe["format"]["tags"]["comment"].startswith(site.url)  # the page, as the description says
    assert {s["codec_type"] for s in probe["streams"]} == {"video", "audio"}
    assert files_under(job.temp_dir) == []

    downloading = [p for p in seen if p.phase == "downloading"]
    assert downloading[-1].downloaded_bytes == downloading[-1].total_bytes > 0
    assert downloading[-1].percent == 100.0
    last_byte = seen.index(downloading[-1])
    steps = [p.step for p in seen[last_byte + 1:]]
    assert "Metadata" in steps and "MoveFiles" in steps
    assert all(p.phase == "processing" for p in seen[last_byte + 1:])


async def test_a_playlist_entry_is_chosen_by_its_id(site, tmp_path):
    shown = await preview(f"{site.url}/playlists/demo", max_entries=10, timeout_s=20, allow_private=True,
                          allowed_hosts=HOSTS, extractors=PINNED)
    entry = shown.entries[1]
    job = make_job(site, tmp_path, "", entry.id, url=entry.url, playlist_url=shown.webpage_url,
                   playlist_index=entry.index, stem="Second clip")
    result, _ = await run(job)
    assert (result.video_id, result.title) == ("demo-2", "Demo playlist (2)")
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == ["Second clip.jpg", "Second clip.mp4"]
    assert ffprobe_tags(result.path)["format"]["tags"]["title"] == "Demo playlist (2)"


async def test_an_entry_that_moved_since_the_preview_is_still_found_by_id(site, tmp_path):
    job = make_job(site, tmp_path, "/playlists/demo", "demo-3", playlist_url=f"{site.url}/playlists/demo",
                   playlist_index=1)
    assert [a.playlist_items for a in plan_attempts(job)] == ["1", None]
    result, _ = await run(job)
    assert result.video_id == "demo-3"
    assert [p.name for p in (tmp_path / "library").iterdir() if p.suffix == ".mp4"] == ["demo-3.mp4"]


async def test_an_entry_no_longer_in_the_playlist_is_unavailable(site, tmp_path):
    job = make_job(site, tmp_path, "/playlists/demo", "demo-9", playlist_url=f"{site.url}/playlists/demo",
                   playlist_index=9)
    with pytest.raises(VideoUnavailable) as caught:
        await run(job)
    assert "demo-9" in caught.value.raw and "demo-9" not in caught.value.user_message
    assert files_under(tmp_path) == []


async def test_an_entry_added_at_run_time_can_be_downloaded(site, tmp_path):
    added = site.site.add_entry("demo", "Late clip")
    job = make_job(site, tmp_path, "/playlists/demo", added.id, playlist_url=f"{site.url}/playlists/demo",
                   playlist_index=added.index)
    result, _ = await run(job)
    assert result.video_id == "demo-4" and result.path is not None and result.path.is_file()


async def test_a_404_entry_fails_plainly_and_the_others_are_unaffected(site, tmp_path):
    playlist = f"{site.url}/playlists/broken"
    jobs = [make_job(site, tmp_path, f"/media/broken-{n}.mp4", f"broken-{n}", playlist_url=playlist,
                     playlist_index=n) for n in (1, 2, 3)]
    outcomes = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)

    failure = outcomes[1]
    assert isinstance(failure, HttpError)
    assert failure.status == 404 and not failure.retryable
    assert failure.user_message == "The video site answered with an error (HTTP 404)."
    assert "HTTP Error 404" in failure.raw
    for outcome in (outcomes[0], outcomes[2]):
        assert not isinstance(outcome, BaseException), outcome
    assert sorted(files_under(tmp_path / "library")) == ["broken-1.jpg", "broken-1.mp4", "broken-3.jpg", "broken-3.mp4"]
    assert files_under(tmp_path / "scratch") == []


async def test_cancel_mid_file_stops_quickly_and_leaves_nothing(site, tmp_path):
    job = make_job(site, tmp_path, "/playlists/large", "large-1")
    cancel = asyncio.Event()
    events: list[tuple[float, Progress]] = []
    cancelled_at: list[float] = []

    def on_progress(progress: Progress) -> None:
        events.append((time.monotonic(), progress))
        if (progress.downloaded_bytes or 0) > 2_500_000 and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        await download_item(job, on_progress=on_progress, cancel=cancel)
    stopped_in = time.monotonic() - cancelled_at[0]
    assert stopped_in < 2.0
    assert caught.value.user_message == "The download was cancelled."
    assert files_under(tmp_path) == []  # no .part, no thumbnail, nothing in the library

    # Progress: bytes only grow, the size is known from the start, at most ~4 reports a second.
    sizes = [p.downloaded_bytes for _, p in events]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert {p.total_bytes for _, p in events} == {LARGE_ENTRY_BYTES}
    assert all(p.phase == "downloading" and p.percent is not None and 0 <= p.percent < 100 for _, p in events)
    # The site serves this file at DEFAULT_LARGE_RATE, so the bytes tell how long the child was
    # downloading, whatever delays the reports met on their way here.
    downloading_s = sizes[-1] / DEFAULT_LARGE_RATE
    assert 4 <= len(events) <= downloading_s * 4 + 3, f"{len(events)} reports in about {downloading_s:.2f} s"


async def test_cancel_while_no_hook_runs_kills_the_child(site, tmp_path):
    # The page never answers: yt-dlp waits inside extraction, where no hook is called.
    site.site.set_faults(outage=True, path_prefix="/videos/ocean")
    job = make_job(site, tmp_path, "/videos/ocean", "ocean-1", socket_timeout=30)
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.8, cancel.set)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        await run(job, cancel=cancel)
    assert time.monotonic() - started < 0.8 + 2.0
    assert files_under(tmp_path) == []


async def test_cancelling_the_task_stops_the_child_too(site, tmp_path):
    job = make_job(site, tmp_path, "/playlists/large", "large-1")
    task = asyncio.create_task(run(job))
    await asyncio.sleep(1.5)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0
    assert files_under(tmp_path) == []


async def test_a_file_over_max_filesize_is_refused_with_the_limit_named(site, tmp_path):
    job = make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", max_filesize=10_000)
    with pytest.raises(TooLarge) as caught:
        await run(job)
    assert caught.value.limit == 10_000
    assert caught.value.user_message == ("This video is larger than the 9.8 KB limit your admin has set, "
                                         "so it was not downloaded.")
    assert "max-filesize" in caught.value.raw
    assert files_under(tmp_path) == []


async def test_an_archived_id_is_skipped_without_downloading(site, tmp_path):
    archive = tmp_path / "archive.txt"
    first, _ = await run(make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", archive_path=archive))
    assert not first.skipped
    before = files_under(tmp_path / "library")

    second, events = await run(make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", archive_path=archive,
                                        stem="again"))
    assert second.skipped and second.video_id == "sunrise-1" and second.path is None
    assert events == []
    assert files_under(tmp_path / "library") == before
    assert archive.read_text().splitlines() == ["html5mediaembed sunrise-1"]


async def test_a_dropped_connection_is_a_network_error_and_retries_resume(site, tmp_path):
    site.site.set_media_fault("/media/demo-1.mp4", drop_after_bytes=8_000)
    job = make_job(site, tmp_path, "/playlists/demo", "demo-1", playlist_url=f"{site.url}/playlists/demo",
                   playlist_index=1, retries=0)
    with pytest.raises(NetworkError) as caught:
        await run(job)
    assert caught.value.retryable
    assert caught.value.user_message == "The connection to the video site failed. Please try again later."
    assert files_under(tmp_path) == []

    site.site.set_media_fault("/media/demo-1.mp4", drop_after_bytes=8_000, times=1)
    result, _ = await run(make_job(site, tmp_path, "/playlists/demo", "demo-1", retries=2,
                                   playlist_url=f"{site.url}/playlists/demo", playlist_index=1))
    assert result.path is not None and ffprobe_tags(result.path)["format"]["tags"]["title"] == "Demo playlist (1)"


async def test_audio_quality_gives_an_m4a_with_metadata(site, tmp_path):
    result, _ = await run(make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", quality="audio"))
    assert result.path == tmp_path / "library" / "sunrise-1.m4a"
    probe = ffprobe_tags(result.path)
    assert [s["codec_type"] for s in probe["streams"]] == ["audio"]
    assert probe["format"]["tags"]["title"] == "Sunrise (1)"
    assert (tmp_path / "library" / "sunrise-1.jpg").is_file()


async def test_private_addresses_are_refused_at_connect_time(site, tmp_path):
    """A host name that is allowed and says nothing about being local, but resolves to this
    machine: only the child's resolver guard can catch it."""
    name = socket.gethostname().lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if "127.0.0.1" not in addresses:
        pytest.skip("this machine's name does not resolve to 127.0.0.1, where the site listens")
    url = site.url.replace("127.0.0.1", name)
    job = make_job(site, tmp_path, "", "sunrise-1", url=f"{url}/videos/sunrise", allowed_hosts=(name,),
                   allow_private=False)
    with pytest.raises(UnsupportedLink) as caught:
        await run(job)
    assert caught.value.user_message == PRIVATE_ADDRESS
    assert files_under(tmp_path) == []


async def test_links_breaking_the_rules_fail_before_any_child_starts(site, tmp_path):
    with pytest.raises(UnsupportedLink) as caught:
        await run(make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", allow_private=False))
    assert caught.value.user_message == PRIVATE_ADDRESS
    with pytest.raises(UnsupportedLink):
        await run(make_job(site, tmp_path, "/videos/sunrise", "sunrise-1", allowed_hosts=()))


def test_item_jobs_refuse_unusable_values(tmp_path):
    base = dict(url="https://youtu.be/dQw4w9WgXcQ", expected_id="dQw4w9WgXcQ", output_dir=tmp_path,
                temp_dir=tmp_path / "t")
    for stem in ("", "a/b", "..", ".hidden", "x\0y"):
        with pytest.raises(ValueError):
            ItemJob(**base, stem=stem)
    with pytest.raises(ValueError):
        ItemJob(**base, stem="ok", quality="4k")
    job = ItemJob(**base, stem="ok", allowed_hosts=["example.org"])  # type: ignore[arg-type]
    assert ItemJob.from_json(json.loads(json.dumps(job.to_json()))) == job
    assert [a.noplaylist for a in plan_attempts(job)] == [True]
    assert plan_attempts(job)[0].url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def test_the_cli_equivalent_downloads_the_same_format(site, tmp_path):
    command = ytdlp_cli_command(f"{site.url}/videos/sunrise", tmp_path)
    assert command[command.index("-f") + 1] == FORMATS["best"]
    subprocess.run(command, check=True, timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Sunrise (1) [sunrise-1].jpg", "Sunrise (1) [sunrise-1].mp4"]
    assert "--extract-audio" in ytdlp_cli_command("https://youtu.be/dQw4w9WgXcQ", tmp_path, quality="audio")


# ---- previews -----------------------------------------------------------------------------

async def test_preview_of_the_demo_playlist(site):
    shown = await preview(f"{site.url}/playlists/demo", max_entries=10, timeout_s=20, allow_private=True,
                          allowed_hosts=HOSTS, extractors=PINNED)
    assert (shown.kind, shown.id, shown.title, shown.total_count, shown.truncated) == \
        ("playlist", "demo", "Demo playlist", 3, False)
    assert shown.webpage_url == f"{site.url}/playlists/demo"
    assert [(e.index, e.id, e.title) for e in shown.entries] == [
        (1, "demo-1", "Demo playlist (1)"), (2, "demo-2", "Demo playlist (2)"), (3, "demo-3", "Demo playlist (3)")]
    assert [e.url for e in shown.entries] == [f"{site.url}/media/demo-{n}.mp4" for n in (1, 2, 3)]
    assert [e.thumbnail_url for e in shown.entries] == [f"{site.url}/thumbs/demo-{n}.jpg" for n in (1, 2, 3)]
    assert shown.estimated_bytes is None and shown.dropped == 0  # the site announces no sizes
    assert Preview.from_json(json.loads(json.dumps(shown.to_json()))) == shown


async def test_preview_of_a_longer_playlist_is_truncated(site):
    shown = await preview(f"{site.url}/playlists/demo", max_entries=2, timeout_s=20, allow_private=True,
                          allowed_hosts=HOSTS, extractors=PINNED)
    assert [e.id for e in shown.entries] == ["demo-1", "demo-2"]
    assert shown.truncated and shown.total_count == 3


async def test_preview_of_the_broken_playlist_and_a_single_video(site):
    broken = await preview(f"{site.url}/playlists/broken", max_entries=10, timeout_s=20, allow_private=True,
                           allowed_hosts=HOSTS, extractors=PINNED)
    assert [e.id for e in broken.entries] == ["broken-1", "broken-2", "broken-3"]  # nothing is fetched yet
    single = await preview(f"{site.url}/videos/sunrise", max_entries=10, timeout_s=20, allow_private=True,
                           allowed_hosts=HOSTS, extractors=PINNED)
    assert (single.kind, single.id, single.total_count, len(single.entries)) == ("video", "sunrise-1", 1, 1)
    assert single.entries[0].index == 1 and single.thumbnail_url == f"{site.url}/thumbs/sunrise-1.jpg"


async def test_preview_errors_are_typed(site):
    kwargs: dict[str, Any] = dict(max_entries=5, timeout_s=20, allow_private=True, allowed_hosts=HOSTS,
                                  extractors=PINNED)
    with pytest.raises(UnsupportedLink):
        await preview(f"{site.url}/about", **kwargs)
    with pytest.raises(HttpError) as caught:
        await preview(f"{site.url}/missing", **kwargs)
    assert caught.value.status == 404
    with pytest.raises(LinkRefused) as refused:
        await preview(f"{site.url}/playlists/demo", **{**kwargs, "allow_private": False})
    assert refused.value.user_message == PRIVATE_ADDRESS


async def test_preview_is_bounded_by_its_timeout(site):
    site.site.set_faults(outage=True, path_prefix="/playlists/demo")
    started = time.monotonic()
    with pytest.raises(NetworkError):
        await preview(f"{site.url}/playlists/demo", max_entries=5, timeout_s=1.0, allow_private=True,
                      allowed_hosts=HOSTS, extractors=PINNED)
    assert time.monotonic() - started < 3.0


def test_preview_drops_entries_on_other_hosts():
    """A playlist page must not smuggle in other hosts: such entries are left out and counted."""
    base = "http://127.0.0.1:8765"

    def entry(n: int, url: str) -> dict[str, Any]:
        return {"id": f"demo-{n}", "title": f"Demo ({n})", "url": url, "webpage_url": f"{base}/playlists/demo",
                "extractor_key": "HTML5MediaEmbed", "playlist_index": n, "filesize": 1000 * n}

    info = {"_type": "playlist", "id": "demo", "title": "Demo", "webpage_url": f"{base}/playlists/demo",
            "playlist_count": 5, "entries": [
                entry(1, f"{base}/media/demo-1.mp4"), entry(2, "http://evil.example/x.mp4"),
                entry(3, "http://10.0.0.7/x.mp4"), entry(4, "file:///etc/passwd"), entry(5, f"{base}/media/5.mp4")]}
    shown = build_preview(info, max_entries=10, allowed_hosts=HOSTS, allow_private=True)
    assert [e.id for e in shown.entries] == ["demo-1", "demo-5"]
    assert shown.dropped == 3 and shown.estimated_bytes == 6000
    shown = build_preview(info, max_entries=10, allowed_hosts=HOSTS + ("10.0.0.7",), allow_private=True)
    assert [e.id for e in shown.entries] == ["demo-1", "demo-3", "demo-5"]
    assert shown.dropped == 2 and shown.estimated_bytes == 9000
    strict = build_preview(info, max_entries=10, allowed_hosts=HOSTS + ("10.0.0.7",), allow_private=False)
    assert strict.entries == () and strict.dropped == 5  # 127.0.0.1 and 10.0.0.7 are private

    youtube = {"_type": "playlist", "id": "PL1", "title": "L", "webpage_url": "https://www.youtube.com/playlist?list=PL1",
               "entries": [{"_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ", "title": "A",
                            "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "duration": 212},
                           {"_type": "url", "ie_key": "YoutubeTab", "id": "PL2", "title": "nested",
                            "url": "https://www.youtube.com/playlist?list=PL2xxxxxxx"}]}
    shown = build_preview(youtube, max_entries=10, allowed_hosts=(), allow_private=False)
    assert [(e.id, e.duration_s) for e in shown.entries] == [("dQw4w9WgXcQ", 212.0)]
    assert shown.dropped == 1 and shown.total_count == 2


# ---- the child's pieces, without a site -------------------------------------------------------

class Collected:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def test_the_progress_hook_throttles_and_enforces_the_size_limit(tmp_path):
    job = ItemJob(url="http://127.0.0.1/x", expected_id="x", output_dir=tmp_path, stem="x", temp_dir=tmp_path,
                  max_filesize=50_000)
    sink = Collected()
    item = ItemRun(job, sink=sink, cancel=threading.Event())
    for n in range(1, 41):  # a file without Content-Length: 1 KiB at a time, in a burst
        item.on_progress({"status": "downloading", "filename": "x.mp4", "downloaded_bytes": n * 1024,
                          "total_bytes": None, "speed": 1e6})
    assert len(sink.events) == 1 and sink.events[0]["total_bytes"] is None
    with pytest.raises(TooLargeSignal):
        item.on_progress({"status": "downloading", "filename": "x.mp4", "downloaded_bytes": 50_001})
    assert classify(TooLargeSignal(50_000, 50_001)).user_message.startswith("This video is larger than the 48.8 KB")

    item.cancel.set()
    with pytest.raises(DownloadCancelled):
        item.on_progress({"status": "downloading", "filename": "x.mp4", "downloaded_bytes": 1})


def test_the_match_filter_refuses_other_ids_and_foreign_media(tmp_path):
    job = ItemJob(url="http://127.0.0.1/p", expected_id="demo-2", output_dir=tmp_path, stem="x", temp_dir=tmp_path,
                  allowed_hosts=HOSTS, allow_private=True)
    item = ItemRun(job, sink=Collected(), cancel=threading.Event())
    assert item.match_filter({"id": "demo-1"}, incomplete=True) is not None
    assert item.match_filter({"id": "demo-2", "url": "http://127.0.0.1/m.mp4"}, incomplete=True) is None
    assert item.match_filter({"id": "demo-2", "url": "http://127.0.0.1/m.mp4", "extractor_key": "HTML5MediaEmbed"},
                             incomplete=False) is None
    with pytest.raises(EntryRefused):
        item.match_filter({"id": "demo-2", "url": "http://evil.example/m.mp4", "extractor_key": "HTML5MediaEmbed"})
    assert classify(EntryRefused("x")).kind == "unsupported"


def test_the_child_gets_no_secrets(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:pw@db/medianest")
    monkeypatch.setenv("PLEX_TOKEN", "secret-token")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    env = child_env()
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_CACHE_HOME",
                        "SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                        "PYTHONIOENCODING"}
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)  # where a venv keeps deno


def test_the_address_guard_refuses_private_answers_in_a_child_interpreter():
    # One guard per child; each request sets whether private answers may pass, and it falls back
    # to refusing them after the request.
    code = ("import socket\n"
            "from medianest.integrations.ytdlp.child import AddressGuard\n"
            "guard = AddressGuard()\n"
            "def look():\n"
            "    try:\n        return socket.getaddrinfo('localhost', 80)[0][4][0]\n"
            "    except OSError as exc:\n        return type(exc).__name__\n"
            "print(look())\n"
            "guard.allow_private = True\n"
            "print(look() in ('127.0.0.1', '::1'))\n"
            "guard.allow_private = False\n"
            "print(look())\n"
            "print(socket.getaddrinfo('8.8.8.8', 53)[0][4][0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["AddressRefused", "True", "AddressRefused", "8.8.8.8"]


# ---- the classifier, fed with real yt-dlp exceptions -----------------------------------------

def reported(exc: BaseException) -> DownloadError:
    """What yt-dlp turns ``exc`` into when it happens inside a download (``report_error``)."""
    ydl = YoutubeDL({"quiet": True, "no_warnings": True, "logger": None})
    try:
        try:
            raise exc
        except BaseException as inner:
            ydl.report_error(str(inner), getattr(inner, "format_traceback", lambda: None)())
    except DownloadError as error:
        return error
    raise AssertionError("report_error did not raise")


@pytest.mark.parametrize(("exc", "expected"), [
    (ExtractorError("Private video. Sign in if you've been granted access to this video", expected=True),
     PrivateVideo),
    (ExtractorError("Sign in to confirm your age. This video may be inappropriate for some users.", expected=True),
     SignInRequired),
    (ExtractorError("Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies", expected=True),
     SignInRequired),
    (ExtractorError("Join this channel to get access to members-only content like this video", expected=True),
     SignInRequired),
    (ExtractorError("Video unavailable. This video has been removed by the uploader", expected=True),
     VideoUnavailable),
    (ExtractorError("This video is no longer available because the YouTube account associated with this video "
                    "has been terminated.", expected=True), VideoUnavailable),
    (GeoRestrictedError("The uploader has not made this video available in your country", countries=["DE"]),
     GeoBlocked),
    (UnsupportedError("https://www.youtube.com/feed/library"), UnsupportedLink),
    (PostProcessingError("Conversion failed! ffmpeg exited with code 1"), PostProcessingFailed),
    (RuntimeError("something nobody expected"), DownloadFailed),
])
def test_classifier_on_reported_errors(exc, expected):
    error = reported(exc)
    result = classify(error)
    assert type(result) is expected
    assert result.raw.startswith("ERROR: ")
    assert "ERROR" not in result.user_message and "http" not in result.user_message


def test_classifier_finds_a_full_disk_behind_yt_dlps_wrapping():
    def write_fails() -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise UnavailableVideoError(err) from None  # as process_info does: the errno only in __context__

    with pytest.raises(UnavailableVideoError) as caught:
        write_fails()
    assert isinstance(classify(caught.value), DiskFull)
    assert isinstance(classify(reported(caught.value)), DiskFull)


def test_classifier_on_real_network_and_http_failures(site):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    params = {"quiet": True, "no_warnings": True, "allowed_extractors": list(PINNED), "socket_timeout": 5}
    for url, expected in ((f"http://127.0.0.1:{closed_port}/x", NetworkError), (f"{site.url}/missing", HttpError)):
        with pytest.raises(DownloadError) as caught, YoutubeDL(params) as ydl:  # type: ignore[arg-type]
            ydl.extract_info(url, download=False)
        assert type(classify(caught.value)) is expected
    assert isinstance(classify(DownloadCancelled("stop")), Cancelled)


def test_errors_survive_the_trip_from_the_child():
    for error in (HttpError(503, raw="x"), TooLarge(1_500_000_000, raw="y"), UnsupportedLink(PRIVATE_ADDRESS),
                  Cancelled(raw="z"), DiskFull()):
        back = error_from_kind(**error_parts(error))
        assert (type(back), back.user_message, back.raw, back.retryable) == \
            (type(error), error.user_message, error.raw, error.retryable)
    assert TooLarge(1_500_000_000).user_message.startswith("This video is larger than the 1.4 GB limit")
    assert HttpError(503).retryable and not HttpError(404).retryable
