"""YouTube downloads in the production configuration, against the bare yt-dlp command line.

The stack of ``bench/status_fanout.py`` (PostgreSQL database of its own, Redis with a key prefix of
its own, ``reflex run --env prod`` with two Granian workers, one Taskiq worker) with downloads set
up as in production (``DOWNLOADS_ROOT`` a temporary folder, the demo site's host allowed:
``DOWNLOADS_ALLOWED_HOSTS=127.0.0.1``, ``DOWNLOADS_ALLOW_PRIVATE_ADDRESSES=true``,
``DOWNLOAD_MIN_FREE_MB=0``, ``DOWNLOAD_LIMIT_PER_HOUR=1000``, no Plex server), and the demo video
site (``medianest.simulators.video_site.serve_in_thread``) in a process of its own, serving
``/playlists/big``: 10 files of 20 MiB at full speed.

Per round, side by side:

- yt-dlp: ``ytdlp_cli_command(playlist, tmp)`` (the same yt-dlp, format, metadata and thumbnail
  as MediaNest's), from start to exit, into a fresh temporary folder;
- MediaNest: a new signed-in member's tab on /downloads, speaking Reflex's websocket protocol like
  the browser: ``DownloadsState.load`` (links the tab to the member's ``DownloadsFeed``),
  ``set_url``, ``look`` (the preview, not timed), then ``download``. The time runs from emitting
  ``download`` to the last item's ``finished_at`` once every item is "done" in the database (its
  file on disk, which is checked); the Plex step that follows is not counted.

Figures (``DOWNLOAD_CONCURRENCY`` = the first of ``--concurrency``, default 2, the production
default; further values are measured the same way after restarting the Taskiq worker):

- ``ratio_vs_ytdlp``: best MediaNest time / best yt-dlp time over the rounds (target < 1.10).
- ``progress_p95_ms``: every ``download-progress`` event carries ``at`` (``time.time()`` in the
  worker when its progress report came, see ``services/downloads/events.py``). The benchmark reads the same Redis stream
  (``live.stream_key()``, plain ``XREAD``, no consumer group) and, for each event, computes the row
  the feed shows for it (``views.with_progress``: status, "12.3 MB of 20.9 MB · 80 MB/s · 0:01 left",
  percent); the latency is the first moment the tab receives a delta whose row for that item equals
  it, minus ``at`` (target p95 < 500 ms). Events never shown (the item's row already "done" when the
  event was applied) are counted apart.
- ``web_cpu_share``: user + system CPU time (``/proc/<pid>/stat``, children included) of the whole
  ``reflex run`` process tree from submit to done, divided by that wall time (target < 0.10).

Also printed, to explain them: the CPU time of the Taskiq worker's process tree (its yt-dlp children
included) and of the yt-dlp command, and the web processes' CPU share while only yt-dlp runs.

Usage: .venv/bin/python bench/downloads.py [--rounds 3] [--concurrency 2 1]
The last line is a JSON object: {"ratio_vs_ytdlp": …, "progress_p95_ms": …, "web_cpu_share": …, …}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import drop_redis_keys
from status_fanout import NAMESPACE, ROOT, Stack, percentile, session_cookie

sys.path.insert(0, str(ROOT))
from medianest.integrations.ytdlp import ytdlp_cli_command

PLAYLIST = "/playlists/big"
ENTRIES = 10
DONE_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 30.0
POLL_S = 0.1
TICKS = os.sysconf("SC_CLK_TCK")
# The video site in a process of its own: serving 200 MB at full speed must not share this
# process's interpreter with the tab whose receive times are measured. It stops when stdin closes.
SITE_CODE = """
import sys
from medianest.simulators.video_site import serve_in_thread
handle = serve_in_thread(data_dir=sys.argv[1])
print(handle.url, flush=True)
sys.stdin.read()
handle.stop()
"""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class VideoSite:
    """The demo video site in a child process; stopped (by its pid) at the end."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir, self.log_path = data_dir, log_path
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> VideoSite:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", SITE_CODE, str(self.data_dir)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http"):
            self.__exit__()
            raise SystemExit(f"the video site did not start; see {self.log_path}")
        # The big playlist's clips are made on the first request of its page or files.
        for path in (PLAYLIST, "/media/big-1.mp4"):
            httpx.get(f"{self.url}{path}", timeout=120).raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system, with reaped children) of ``root_pid`` and all its descendants."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        # After the command: state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based.
        parents[int(name)] = int(fields[1])
        times[int(name)] = sum(int(v) for v in fields[11:15])
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(pid, 0) for pid in tree) / TICKS


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_files(paths: list[Path], what: str) -> None:
    """The 10 videos are there. (Each is 20 MiB on the wire, a short clip padded with an mp4 ``free``
    box; embedding the metadata remuxes it with ffmpeg, which drops the padding, on both sides.)"""
    empty = [p for p in paths if not p.is_file() or p.stat().st_size == 0]
    if len(paths) != ENTRIES or empty:
        raise SystemExit(f"{what}: expected {ENTRIES} video files, "
                         f"got {[(p.name, p.stat().st_size if p.is_file() else None) for p in paths]}")


async def ytdlp_round(playlist_url: str, web_pid: int) -> tuple[float, float, float]:
    """The bare command line into a fresh temporary folder: (wall seconds, its CPU seconds, and the
    CPU seconds the idle web processes used meanwhile)."""
    out = Path(tempfile.mkdtemp(prefix="medianest-bench-ytdlp-"))
    try:
        cpu, web = children_cpu_s(), tree_cpu_s(web_pid)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*ytdlp_cli_command(playlist_url, out),
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        _, stderr = await proc.communicate()
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"yt-dlp exited with {proc.returncode}: {stderr.decode()[-2000:]}")
        web = tree_cpu_s(web_pid) - web
        check_files(sorted(out.glob("*.mp4")), "yt-dlp")
        return wall, children_cpu_s() - cpu, web
    finally:
        shutil.rmtree(out, ignore_errors=True)


class DownloadsTab:
    """One member's tab on /downloads, speaking Reflex's websocket protocol like the browser."""

    ROUTER = {"pathname": "/downloads", "query": {}, "asPath": "/downloads"}

    def __init__(self, url: str, cookie: str) -> None:
        from medianest.pages.downloads import DownloadsState
        from medianest.state import DownloadsFeed

        self.url, self.cookie = url, cookie
        self.page_state, self.feed_state = DownloadsState.get_full_name(), DownloadsFeed.get_full_name()
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("event", self._on_update, namespace=NAMESPACE)
        self.loaded, self.previewed = asyncio.Event(), asyncio.Event()
        self.error = ""
        self.last_update: dict = {}
        # Every delta of the feed as received: (time.time(), {item id: (status, detail, percent)}).
        self.seen: list[tuple[float, dict[int, tuple[str, str, int]]]] = []

    def _on_update(self, update: dict) -> None:
        now = time.time()
        self.last_update = update
        delta = update.get("delta") or {}
        feed = delta.get(self.feed_state) or {}
        if feed.get("loaded_rx_state_"):
            self.loaded.set()
        if "cards_rx_state_" in feed:
            self.seen.append((now, {r["id"]: (r["status"], r["detail"], r["percent"])
                                    for card in feed["cards_rx_state_"] for r in card["items"]}))
        page = delta.get(self.page_state) or {}
        if page.get("error_rx_state_"):
            self.error = page["error_rx_state_"]
            self.previewed.set()
        if page.get("preview_rx_state_") and page.get("previewing_rx_state_") is False:
            self.previewed.set()

    async def emit(self, handler: str, payload: dict) -> None:
        await self.client.emit("event", {"name": f"{self.page_state}.{handler}", "payload": payload,
                                         "router_data": self.ROUTER}, namespace=NAMESPACE)

    async def open_and_preview(self, link: str) -> None:
        await self.client.connect(f"{self.url}?token={uuid.uuid4()}", socketio_path="/_event",
                                  transports=["websocket"], namespaces=[NAMESPACE],
                                  headers={"Origin": self.url, "Cookie": f"mn_session={self.cookie}"})
        await self.emit("load", {})
        try:
            await asyncio.wait_for(self.loaded.wait(), timeout=60)
            await self.emit("set_url", {"value": link})
            await self.emit("look", {"form": {"url": link}})
            await asyncio.wait_for(self.previewed.wait(), timeout=120)
        except TimeoutError:
            raise SystemExit(f"/downloads did not load or preview; last update: {self.last_update}") from None
        if self.error:
            raise SystemExit(f"the preview of {link} failed: {self.error}")


class StreamTap:
    """The live events stream read alongside the web processes (plain XREAD, no group)."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.from_url(redis_url)
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        from medianest import live

        key = live.stream_key()
        last = await self.redis.xrevrange(key, count=1)
        self.task = asyncio.create_task(self._read(key, last[0][0] if last else b"0-0"))

    async def _read(self, key: str, last_id: bytes) -> None:
        while True:
            for _, messages in await self.redis.xread({key: last_id}, block=500, count=100) or []:
                for message_id, fields in messages:
                    last_id = message_id
                    event = json.loads(fields[b"data"])
                    if event.get("type") == "download-progress":
                        self.events.append(event)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.redis.aclose()


def _blank(cls: type, **given: Any) -> Any:
    """A view-model dataclass with every field empty but ``given``."""
    empty = {"int": 0, "str": "", "bool": False}
    return cls(**{f.name: given.get(f.name, empty.get(str(f.type), [])) for f in dataclasses.fields(cls)})


def shown_row(event: dict[str, Any]) -> tuple[str, str, int]:
    """(status, detail, percent) of the item's row once the feed applied ``event`` (``DownloadsFeed._progress``)."""
    from medianest.services.downloads import views
    from medianest.state import DownloadsFeed

    feed = type("Feed", (), {})()
    feed.cards = [_blank(views.DownloadCard, items=[_blank(views.ItemRow, id=event["item_id"],
                                                           status="downloading")])]
    DownloadsFeed._progress(feed, event)
    row = feed.cards[0].items[0]
    return row.status, row.detail, row.percent


def progress_latencies(events: list[dict[str, Any]], seen: list[tuple[float, dict]]) -> tuple[list[float], int]:
    """Per published event, the first receipt of the row it makes; and how many were never shown."""
    latencies, unshown = [], 0
    for event in events:
        want, item = shown_row(event), event["item_id"]
        received = next((t for t, rows in seen if t >= event["at"] and rows.get(item) == want), None)
        if received is None:
            unshown += 1
        else:
            latencies.append(received - event["at"])
    return latencies, unshown


async def make_members(count: int) -> list[tuple[int, str]]:
    """``count`` members, one signed-in session each: (user id, session cookie)."""
    from medianest.db import session_scope
    from medianest.models import User

    async with session_scope() as session:
        users = [User(plex_id=7100 + i, username=f"downloader{i:02d}", role="user") for i in range(count)]
        session.add_all(users)
        await session.flush()
        return [(u.id or 0, await session_cookie(session, u, user_agent="bench-downloads")) for u in users]


async def wait_done(user_id: int, root: Path) -> tuple[float, float]:
    """Poll the rows until every item of the member's download is done: (end, observed), both
    ``time.time()``, end being the last item's ``finished_at``. Then wait (not counted) for the
    Plex step to settle, check the files and remove them."""
    from sqlmodel import select

    from medianest.db import as_utc, session_scope
    from medianest.models import DownloadState, ItemState, YoutubeDownload
    from medianest.services.downloads.files import download_path
    from medianest.services.downloads.members import items_of

    deadline = time.monotonic() + DONE_TIMEOUT_S
    end = observed = 0.0
    while time.monotonic() < deadline:
        async with session_scope() as session:
            download = (await session.exec(select(YoutubeDownload).where(YoutubeDownload.user_id == user_id))).first()
            items = await items_of(session, download.id or 0) if download is not None else []
        bad = [(i.title, i.status, i.error) for i in items if i.status in (ItemState.FAILED.value,
                                                                           ItemState.CANCELLED.value)]
        if bad:
            raise SystemExit(f"items did not download: {bad}")
        if download is not None and not end and len(items) == ENTRIES and all(
                i.status == ItemState.DONE.value for i in items):
            observed = time.time()
            end = max(stamp.timestamp() for i in items if (stamp := as_utc(i.finished_at)) is not None)
            check_files([Path(i.file_path or "") for i in items], "MediaNest")
        if end and download is not None and download.status not in (DownloadState.RUNNING.value,
                                                                     DownloadState.ADDING.value):
            folder = download_path(root, download.folder)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            return end, observed
        if end and time.time() - observed > SETTLE_TIMEOUT_S:
            raise SystemExit(f"every item is done but the download is still {download.status!r} after "
                             f"{SETTLE_TIMEOUT_S:.0f} s: it never reached the Plex step")
        await asyncio.sleep(POLL_S)
    raise SystemExit(f"the download of member {user_id} did not finish within {DONE_TIMEOUT_S:.0f} s")


@dataclasses.dataclass
class Round:
    wall_s: float
    web_cpu_s: float
    observed_s: float
    worker_cpu_s: float
    latencies: list[float]
    unshown: int


async def mediannest_round(url: str, member: tuple[int, str], link: str, root: Path, web_pid: int,
                           worker_pid: int, redis_url: str) -> Round:
    tab = DownloadsTab(url, member[1])
    tap = StreamTap(redis_url)
    try:
        await tab.open_and_preview(link)
        await tap.start()
        web_before, worker_before = tree_cpu_s(web_pid), tree_cpu_s(worker_pid)
        started = time.time()
        await tab.emit("download", {})
        end, observed = await wait_done(member[0], root)
        web_cpu, worker_cpu = tree_cpu_s(web_pid) - web_before, tree_cpu_s(worker_pid) - worker_before
        await asyncio.sleep(1.0)  # the last deltas on their way
    finally:
        await tap.stop()
        await tab.client.disconnect()
    latencies, unshown = progress_latencies(tap.events, tab.seen)
    if not latencies:
        raise SystemExit(f"no progress update reached the tab ({len(tap.events)} events published)")
    return Round(end - started, web_cpu, observed - started, worker_cpu, latencies, unshown)


def start_worker(stack: Stack, concurrency: int) -> subprocess.Popen:
    """A Taskiq worker with ``DOWNLOAD_CONCURRENCY=concurrency`` (stopped with the stack)."""
    log = open(stack.tmp / f"worker-c{concurrency}.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "taskiq"), "worker",
                             "medianest.tasks.registry:broker", "--workers", "1"], cwd=ROOT,
                            env={**stack.env, "DOWNLOAD_CONCURRENCY": str(concurrency)}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    stack.procs.append(proc)
    return proc


def stop_worker(stack: Stack, proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    stack.procs.remove(proc)


async def worker_ready() -> None:
    """A download task with nothing queued runs through and ends: the worker is listening."""
    from medianest.tasks.registry import broker

    run_item = broker.find_task("downloads.item")
    assert run_item is not None
    task = await run_item.kiq()
    await task.wait_result(timeout=300)


def summary(name: str, values: list[float]) -> None:
    print(f"{name:<40} samples={len(values):4d}  p50={ms(statistics.median(values)):7.1f} ms  "
          f"p95={ms(percentile(values, 0.95)):7.1f} ms  max={ms(max(values)):7.1f} ms", flush=True)


async def run(args: argparse.Namespace, stack: Stack, site: VideoSite, root: Path) -> dict:
    from medianest.db import dispose_engines
    from medianest.tasks.registry import broker

    link = f"{site.url}{PLAYLIST}"
    members = await make_members(args.rounds * len(args.concurrency))
    await broker.startup()
    figures: dict[int, dict] = {}
    worker = stack.procs[1]
    try:
        for n, concurrency in enumerate(args.concurrency):
            if n:
                stop_worker(stack, worker)
                worker = start_worker(stack, concurrency)
            await worker_ready()
            ytdlp_s, ytdlp_cpu, idle_web, rounds = [], [], [], []
            for r in range(args.rounds):
                wall, cpu, web = await ytdlp_round(link, stack.procs[0].pid)
                ytdlp_s.append(wall)
                ytdlp_cpu.append(cpu)
                idle_web.append(web)
                done = await mediannest_round(stack.url, members[n * args.rounds + r], link, root,
                                              stack.procs[0].pid, worker.pid, stack.env["REDIS_URL"])
                rounds.append(done)
                print(f"concurrency {concurrency} round {r + 1}: yt-dlp {wall:6.2f} s (CPU {cpu:5.2f} s)   "
                      f"MediaNest {done.wall_s:6.2f} s (seen done after {done.observed_s:6.2f} s; worker tree "
                      f"CPU {done.worker_cpu_s:5.2f} s, web CPU {done.web_cpu_s:5.2f} s = "
                      f"{done.web_cpu_s / done.observed_s:.3f} of the wall time; progress updates shown "
                      f"{len(done.latencies)}, never shown {done.unshown})", flush=True)
            latencies = [x for d in rounds for x in d.latencies]
            best_mn, best_yt = min(d.wall_s for d in rounds), min(ytdlp_s)
            share = sum(d.web_cpu_s for d in rounds) / sum(d.observed_s for d in rounds)
            idle_share = sum(idle_web) / sum(ytdlp_s)
            summary(f"progress hook -> tab (concurrency {concurrency})", latencies)
            print(f"concurrency {concurrency}: best MediaNest {best_mn:.2f} s / best yt-dlp {best_yt:.2f} s = "
                  f"{best_mn / best_yt:.3f}; web CPU share {share:.3f} (per round: "
                  f"{[round(d.web_cpu_s / d.observed_s, 3) for d in rounds]}; while yt-dlp ran and no tab was "
                  f"open: {idle_share:.3f})", flush=True)
            figures[concurrency] = {
                "ratio_vs_ytdlp": round(best_mn / best_yt, 3), "progress_p95_ms": ms(percentile(latencies, 0.95)),
                "web_cpu_share": round(share, 3), "download_concurrency": concurrency,
                "mediannest_s": [round(d.wall_s, 2) for d in rounds], "ytdlp_s": [round(t, 2) for t in ytdlp_s],
                "mediannest_worker_cpu_s": [round(d.worker_cpu_s, 2) for d in rounds],
                "ytdlp_cpu_s": [round(c, 2) for c in ytdlp_cpu],
                "web_cpu_s": [round(d.web_cpu_s, 2) for d in rounds], "web_cpu_share_idle": round(idle_share, 3),
                "progress_p50_ms": ms(statistics.median(latencies)), "progress_max_ms": ms(max(latencies)),
                "progress_samples": len(latencies), "progress_never_shown": sum(d.unshown for d in rounds)}
    finally:
        await broker.shutdown()
        await dispose_engines()
    headline = figures[args.concurrency[0]]
    print(f"1-minute load average after the rounds: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs, shared by "
          f"everything: site, yt-dlp, web, worker, database, this client)")
    print(f"targets (concurrency {args.concurrency[0]}): ratio {headline['ratio_vs_ytdlp']} (< 1.10: "
          f"{'met' if headline['ratio_vs_ytdlp'] < 1.10 else 'MISSED'}), progress p95 {headline['progress_p95_ms']} ms "
          f"(< 500: {'met' if headline['progress_p95_ms'] < 500 else 'MISSED'}), web CPU share "
          f"{headline['web_cpu_share']} (< 0.10: {'met' if headline['web_cpu_share'] < 0.10 else 'MISSED'})")
    return {**headline, "web_workers": int(stack.env["GRANIAN_WORKERS"]),
            **{f"concurrency_{c}": f for c, f in figures.items() if c != args.concurrency[0]}}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, best counted (default 3)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 1],
                        help="DOWNLOAD_CONCURRENCY values; the first gives the headline figures (default 2 1)")
    args = parser.parse_args()
    if args.rounds < 1 or min(args.concurrency) < 1:
        parser.error("--rounds and --concurrency must be at least 1")

    # A SIGTERM (a shared machine's clean-up, a timeout) unwinds like Ctrl-C, so the processes, the
    # database, the Redis keys and the folders still go.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack()
    root = stack.tmp / "downloads"
    stack.env.update({"DOWNLOADS_ROOT": str(root), "DOWNLOADS_ALLOWED_HOSTS": "127.0.0.1",
                      "DOWNLOADS_ALLOW_PRIVATE_ADDRESSES": "true", "DOWNLOAD_MIN_FREE_MB": "0",
                      "DOWNLOAD_LIMIT_PER_HOUR": "1000", "DOWNLOAD_CONCURRENCY": str(args.concurrency[0])})
    if not stack.env.get("NPM_CONFIG_REGISTRY"):
        registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        if registry:
            stack.env["NPM_CONFIG_REGISTRY"] = registry
    ok = False
    try:
        with VideoSite(stack.tmp / "site", stack.tmp / "video-site.log") as site:
            started = time.monotonic()
            try:
                stack.__enter__()
                print(f"MediaNest (reflex run --env prod, {stack.env['GRANIAN_WORKERS']} Granian workers, one Taskiq "
                      f"worker) up at {stack.url} after {time.monotonic() - started:.1f} s; video site {site.url}; "
                      f"logs in {stack.tmp} (removed at the end unless the run fails)", flush=True)
                result = asyncio.run(run(args, stack, site, root))
            finally:
                stack.__exit__(None, None, None)
                drop_redis_keys(stack.env["REDIS_URL"], stack.env["REDIS_KEY_PREFIX"])
        ok = True
    finally:
        if ok:
            shutil.rmtree(stack.tmp, ignore_errors=True)
        else:
            print(f"logs kept in {stack.tmp}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
