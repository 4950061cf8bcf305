"""End-to-end fixtures: the production configuration (PostgreSQL, Redis state, two Granian
workers) served by ``reflex run --env prod``, the Plex simulators (the PMS's "YouTube" library
serving the downloads folder), the demo video site members download from, and Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from medianest.launcher import SIMULATED_KUMA, simulated_overseerr_env
from tests.conftest import REDIS_PREFIX, ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
LOCAL_ADMIN_PASSWORD = "bootstrap-pass-e2e"
HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"
REQUEST_LIMIT = 4
WEBHOOK_SECRET = "e2e-overseerr-webhook-secret"
BREAKER_RESET_S = 5

expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A Redis server of the browser tests' own, so that a test may restart it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def private_redis() -> PrivateRedis:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


class Stack:
    """What the browser tests run against, with handles to restart parts of it."""

    env: dict
    log_dir: Path
    background: dict[str, subprocess.Popen]

    def restart_worker(self) -> None:
        self.stop("worker")
        self.start("worker")

    def stop(self, name: str) -> None:
        stop_process(self.background[name])

    def start(self, name: str) -> None:
        self.background.update(start_task_processes(self.env, self.log_dir, names=(name,)))


STACK = Stack()


@pytest.fixture(scope="session")
def kuma_sim():
    """The Uptime Kuma simulator (2.x), for the whole run."""
    from medianest.simulators.uptime_kuma import serve_kuma_in_thread

    handle = serve_kuma_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def downloads_root(tmp_path_factory) -> Path:
    """Where MediaNest writes downloads (web workers and the Taskiq worker) and what the PMS
    simulator's "YouTube" library serves."""
    return tmp_path_factory.mktemp("downloads").resolve()


@pytest.fixture(scope="session")
def plex_sims(downloads_root):
    """The plex.tv and PMS simulators (as in ``tests/conftest.py``), the "YouTube" library's folder
    being the downloads root, as ``make run`` sets it up."""
    from medianest.simulators.plex import serve_in_thread

    handle = serve_in_thread(scan_delay=0.2, downloads_root=downloads_root)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def video_site(tmp_path_factory):
    """The demo video site members download from (``/playlists/demo`` …), for the whole run
    (handle with ``.site`` and ``.url``); its clips are made once, in a folder of this run."""
    from medianest.simulators.video_site import serve_video_site_in_thread

    handle = serve_video_site_in_thread(data_dir=tmp_path_factory.mktemp("video-site"))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def overseerr_sim(plex_sims):
    """The Overseerr simulator attached to the e2e Plex simulators, for the whole run (handle with
    ``.sim`` and ``.url``). No auto-progress and no webhook: browser tests drive it with hooks."""
    from medianest.simulators.overseerr import serve_overseerr_in_thread

    handle = serve_overseerr_in_thread("127.0.0.1", 0, plex=plex_sims.sim, auto_approve_after_s=None,
                                       available_after_s=None, webhook_url=None)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def app_url(database_url, plex_sims, kuma_sim, overseerr_sim, video_site, downloads_root, private_redis,
            tmp_path_factory) -> str:
    """MediaNest in production mode, as Docker runs it, on a free loopback port."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "medianest.log"
    env = {
        **os.environ,
        "REFLEX_USE_SYSTEM_BUN": "1", "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false", "REFLEX_HTTP_CLIENT_BIND_ADDRESS": "0.0.0.0",
        "REFLEX_DIR": str(ROOT / ".reflex"),
        "MEDIANEST_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PLEX_TV_URL": plex_sims.plex_tv_url,
        "PLEX_AUTH_URL": f"{plex_sims.plex_tv_url}/auth",
        "PLEX_LOGIN_TIMEOUT_SECONDS": "30",
        "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": LOCAL_ADMIN_PASSWORD,
        "GRANIAN_WORKERS": "2",
        "REFLEX_REDIS_MAX_CONNECTIONS": "64",
        "REDIS_URL": private_redis.url,
        "STATUS_CHECK_INTERVAL_SECONDS": "1",
        "UPTIME_KUMA_URL": kuma_sim.url,
        **SIMULATED_KUMA,
        **simulated_overseerr_env(overseerr_sim.url),
        "REQUEST_SYNC_INTERVAL_SECONDS": "2", "REQUEST_RETRY_INTERVAL_SECONDS": "1",
        "REQUEST_LIMIT_PER_HOUR": str(REQUEST_LIMIT), "OVERSEERR_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus")),
        # A journey that makes a service fail opens that service's breaker in the web workers; with
        # the default 30 s it would still be open (e.g. plex.tv's, so no server list on /setup) when
        # the next journey starts.
        "BREAKER_RESET_SECONDS": str(BREAKER_RESET_S),
        # Downloads from the demo video site (on 127.0.0.1), into the folder the PMS simulator's
        # "YouTube" library serves; the test machine's free space must not pause them.
        "DOWNLOADS_ROOT": str(downloads_root),
        "DOWNLOADS_ALLOWED_HOSTS": "127.0.0.1", "DOWNLOADS_ALLOW_PRIVATE_ADDRESSES": "true",
        "DOWNLOAD_MIN_FREE_MB": "0",
    }
    if "NPM_CONFIG_REGISTRY" not in env:
        registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True).stdout.strip()
        if registry:
            env["NPM_CONFIG_REGISTRY"] = registry
    bin_dir = Path(os.sys.executable).parent
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(bin_dir / "reflex"), "run", "--env", "prod", "--frontend-port", str(port),
                                 "--backend-host", "127.0.0.1"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        # Production has separate Taskiq processes: one worker and exactly one scheduler.
        background = start_task_processes(env, log_path.parent)
        STACK.env, STACK.log_dir, STACK.background = env, log_path.parent, background
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"MediaNest exited early:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"MediaNest did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        yield url
    finally:
        for process in [proc, *STACK.background.values()]:
            stop_process(process)
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        print(f"\n--- MediaNest server log (tail) ---\n{tail}")


TASK_COMMANDS = {
    "worker": ["taskiq", "worker", "medianest.tasks.registry:broker", "--workers", "1"],
    "scheduler": ["taskiq", "scheduler", "medianest.tasks.registry:scheduler"],
}


def start_task_processes(env: dict, log_dir: Path, names=("worker", "scheduler")) -> dict[str, subprocess.Popen]:
    bin_dir = Path(os.sys.executable).parent
    started = {}
    for name in names:
        command = [str(bin_dir / TASK_COMMANDS[name][0]), *TASK_COMMANDS[name][1:]]
        with open(log_dir / f"{name}.log", "ab") as log:
            started[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
    return started


def stop_process(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser() -> Browser:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium is required (make test installs it)"
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _reset_database() -> None:
    from sqlmodel import SQLModel

    from medianest import models  # noqa: F401

    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def fresh(app_url, plex_sims, overseerr_sim, video_site, downloads_root, private_redis) -> str:
    """Empty database and downloads folder, simulators at their fixtures, rate-limit counters,
    search cache and the members' live feeds (notifications and downloads) cleared.

    The feeds are Reflex shared states in Redis keyed by user id; the database restarts its ids,
    so without this bob's feed would still show the previous journey's notifications and
    downloads (a real install never reuses a user id). The downloads folder holds each member's
    download archive too: left there, the next journey's bob would find his videos "already
    downloaded"."""
    from medianest.state import announcement_token, downloads_feed_token, user_feed_token

    _reset_database()
    plex_sims.sim.reset()
    plex_sims.sim.clear_faults()
    overseerr_sim.sim.reset()
    video_site.site.reset()
    for path in downloads_root.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    client = redis.Redis.from_url(private_redis.url)
    feeds = user_feed_token(0)[:-1]  # "user<install>u", then the id
    download_feeds = downloads_feed_token(0)[:-2]  # "dl<install>", then "u<id>" or "all"
    banners = announcement_token(0)[:-1]  # the announcement banner's shards
    keys = [*client.scan_iter(match=f"{REDIS_PREFIX}rl:*", count=1000),
            *client.scan_iter(match=f"{REDIS_PREFIX}search:*", count=1000),
            *client.scan_iter(match=f"{feeds}*", count=1000),
            *client.scan_iter(match=f"{download_feeds}*", count=1000),
            *client.scan_iter(match=f"{banners}*", count=1000)]
    if keys:
        client.delete(*keys)
    return app_url


class Journey:
    """A member's browser: a fresh context (own cookies) with CSP violations recorded."""

    def __init__(self, browser: Browser, base_url: str, **context_args) -> None:
        self.base_url = base_url
        self.context: BrowserContext = browser.new_context(base_url=base_url, **context_args)
        self.page: Page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", self._on_console)

    def _on_console(self, msg) -> None:
        # Reflex reports a blocked script with console.log, so every level is kept.
        self.console_errors.append(msg.text)

    @property
    def csp_violations(self) -> list[str]:
        return [e for e in self.console_errors if "Content Security Policy" in e or "EvalError" in e]

    def sign_in_with_plex(self, username: str, *, remember: bool = True, start: str = "/") -> None:
        page = self.page
        page.goto(start)
        expect(page.locator("#plex-sign-in")).to_be_visible(timeout=30_000)
        checkbox = page.locator("#remember-me")
        if (checkbox.get_attribute("data-state") == "checked") != remember:
            checkbox.click()
            expect(checkbox).to_have_attribute("data-state", "checked" if remember else "unchecked")
        page.locator("#plex-sign-in").click()
        expect(page.locator(f"#approve-{username}")).to_be_visible()
        page.locator(f"#approve-{username}").click()

    def session_cookie(self) -> dict | None:
        return next((c for c in self.context.cookies() if c["name"] == "mn_session"), None)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def journeys(browser, fresh):
    opened: list[Journey] = []

    def open_journey(**context_args) -> Journey:
        journey = Journey(browser, fresh, **context_args)
        opened.append(journey)
        return journey

    yield open_journey
    violations = [v for j in opened for v in j.csp_violations]
    for journey in opened:
        journey.close()
    assert violations == [], f"Content Security Policy blocked something: {violations}"


def setup_household(journey: Journey) -> None:
    """Alice signs in first (becomes admin) and picks the household server."""
    journey.sign_in_with_plex("alice")
    expect(journey.page).to_have_url(re.compile(r"/setup/?$"), timeout=30_000)
    journey.page.locator(f"#choose-{HOUSEHOLD}").click()
    expect(journey.page.locator("#welcome-name")).to_have_text("alice")
