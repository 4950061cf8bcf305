"""``make run``: migrations, the bundled simulators (for services without a real URL),
and MediaNest itself, until Ctrl-C stops everything this started."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from dotenv import dotenv_values

from .config import Settings
from .simulators.fixtures import OVERSEERR_API_KEY

logger = logging.getLogger("medianest.launcher")
ROOT = Path(__file__).resolve().parent.parent

OFFLINE_ENV = {
    "REFLEX_USE_SYSTEM_BUN": "1",
    "REFLEX_TELEMETRY_ENABLED": "false",
    "REFLEX_CHECK_LATEST_VERSION": "false",
    "REFLEX_HTTP_CLIENT_BIND_ADDRESS": "0.0.0.0",
}


# The bundled Uptime Kuma simulator's fixture credentials (see medianest/simulators/uptime_kuma/).
SIMULATED_KUMA = {
    "UPTIME_KUMA_API_KEY": "uk1_MediaNestSimulatorKey0123456789abcdefghi",
    "UPTIME_KUMA_USERNAME": "admin",
    "UPTIME_KUMA_PASSWORD": "kuma-sim-password",
}


#: Seconds after which the bundled Overseerr simulator makes an approved request available (and
#: adds it to the simulated Plex library), so the demo shows the whole request journey. Approval
#: itself stays with the admin.
DEMO_AVAILABLE_AFTER_S = 30


def simulated_overseerr_env(overseerr_url: str) -> dict[str, str]:
    """What the app needs to use the bundled Overseerr simulator at ``overseerr_url``,
    including the simulator's stand-in for TMDB's image server."""
    return {"OVERSEERR_URL": overseerr_url, "OVERSEERR_API_KEY": OVERSEERR_API_KEY,
            "TMDB_IMAGE_URL": f"{overseerr_url}/__sim__/tmdb/t/p"}


#: Where ``make run`` puts each bundled simulator unless the port is taken.
SIMULATOR_PORTS = {"plex_tv": 32410, "pms": 32400, "kuma": 3001, "overseerr": 5055, "video": 8765}
DEFAULT_PORT = 3000


def free_port(preferred: int, *, taken: set[int] | frozenset[int] = frozenset()) -> int:
    """``preferred`` when it is free on 127.0.0.1, otherwise any free port (never one in ``taken``)."""
    for candidate in (preferred, 0, 0, 0):
        if candidate and candidate in taken:
            continue
        with socket.socket() as sock:
            # As the servers bind: connections of an earlier run still in TIME_WAIT do not make
            # the port busy (without this every quick restart moved to another port).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = sock.getsockname()[1]
            if port not in taken:
                return port
    raise RuntimeError("no free port")


def serving_port(requested: str | None, *, public_url_configured: bool, default: int = DEFAULT_PORT) -> int:
    """The port ``make run`` serves MediaNest on.

    A busy port is refused when the port or the public URL was configured (serving elsewhere
    would leave the configured address pointing at something else); only the unconfigured
    default moves to a free port, and says so.

    Raises:
        RuntimeError: A bad ``MEDIANEST_PORT``, or a configured port that is in use.
    """
    try:
        port = int(requested) if requested else default
    except ValueError:
        raise RuntimeError(f"MEDIANEST_PORT must be a port number, not {requested!r}") from None
    if not 0 < port < 65536:
        raise RuntimeError(f"MEDIANEST_PORT must be between 1 and 65535, not {port}")
    if free_port(port) == port:
        return port
    if requested or public_url_configured:
        raise RuntimeError(f"port {port} is in use (another program, or MediaNest still running): stop it, "
                           "or set MEDIANEST_PORT to a free port (and MEDIANEST_PUBLIC_URL to match)")
    chosen = free_port(0)
    logger.warning("Port %s is in use: serving on port %s instead (set MEDIANEST_PORT to choose)", port, chosen)
    return chosen


def simulator_ports(saved: Path, defaults: dict[str, int] | None = None) -> dict[str, int]:
    """Ports for the bundled simulators: the ones of the last run whenever they are free.

    The household server's URL saved at setup names the simulated Plex server's port, so that
    port must not move between runs (a moved port showed a false "Plex is down").

    Args:
        saved: The JSON file that remembers the ports (under the data directory).
        defaults: Name → preferred port for a first run (``SIMULATOR_PORTS``).
    """
    try:
        previous = json.loads(saved.read_text())
    except (OSError, ValueError):
        previous = {}
    if not isinstance(previous, dict):
        previous = {}
    ports: dict[str, int] = {}
    for name, default in (defaults or SIMULATOR_PORTS).items():
        wanted = previous.get(name)
        wanted = wanted if isinstance(wanted, int) and 0 < wanted < 65536 else default
        ports[name] = free_port(wanted, taken=set(ports.values()))
        if ports[name] != wanted:
            logger.warning("Port %s for the %s simulator is in use: using %s (a household Plex server "
                           "chosen on the old port needs setup again)", wanted, name, ports[name])
    try:
        saved.write_text(json.dumps(ports))
    except OSError as exc:
        logger.warning("could not remember the simulator ports in %s: %s", saved, exc)
    return ports


def reflex_env(base: dict[str, str]) -> dict[str, str]:
    env = {**base, **{k: v for k, v in OFFLINE_ENV.items() if k not in base}}
    env.setdefault("REFLEX_DIR", str(ROOT / ".reflex"))
    if "NPM_CONFIG_REGISTRY" not in env:
        try:
            registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                                      timeout=20).stdout.strip()
            if registry:
                env["NPM_CONFIG_REGISTRY"] = registry
        except (OSError, subprocess.SubprocessError):
            pass
    return env


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.chdir(ROOT)
    settings = Settings()
    env = reflex_env(dict(os.environ))
    log_dir = settings.data_dir.resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    public_url_configured = "public_url" in settings.model_fields_set
    try:
        port = serving_port(env.get("MEDIANEST_PORT") or dotenv_values(ROOT / ".env").get("MEDIANEST_PORT"),
                            public_url_configured=public_url_configured)
    except RuntimeError as exc:
        logger.error("MediaNest could not start: %s", exc)
        return 1
    # A configured public URL (environment or .env) is what members open; else it follows the port.
    public_url = settings.public_url if public_url_configured else f"http://127.0.0.1:{port}"
    env["MEDIANEST_PUBLIC_URL"] = public_url
    procs: list[subprocess.Popen] = []
    # Prometheus counters of every web process add up in one scrape (multiprocess mode).
    metrics_dir = settings.data_dir.resolve() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    def spawn(args: list[str], log_name: str) -> subprocess.Popen:
        log = open(log_dir / log_name, "ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        return proc

    signal.signal(signal.SIGTERM, _raise_interrupt)
    simulated_webhook: tuple[str, str] | None = None
    try:
        if "plex_tv_url" not in settings.model_fields_set:
            sim_ports = simulator_ports(settings.data_dir.resolve() / "simulator-ports.json")
            tv_port, pms_port, kuma_port = sim_ports["plex_tv"], sim_ports["pms"], sim_ports["kuma"]
            overseerr_port, video_port = sim_ports["overseerr"], sim_ports["video"]
            # The demo video site caches its ffmpeg-made clips under <data dir>/video-site/.
            sims = spawn([sys.executable, "-m", "medianest.simulators", "--plex-tv-port", str(tv_port),
                          "--pms-port", str(pms_port), "--kuma-port", str(kuma_port),
                          "--overseerr-port", str(overseerr_port),
                          "--overseerr-available-after", str(DEMO_AVAILABLE_AFTER_S),
                          "--video-port", str(video_port), "--video-data", str(settings.data_dir.resolve()),
                          "--pms-downloads-root", str(settings.downloads_dir.resolve())],
                         "simulators.log")
            # The demo video site is on 127.0.0.1: let members download from it.
            env.setdefault("DOWNLOADS_ALLOWED_HOSTS", "127.0.0.1")
            env.setdefault("DOWNLOADS_ALLOW_PRIVATE_ADDRESSES", "true")
            env["PLEX_TV_URL"] = f"http://127.0.0.1:{tv_port}"
            env["PLEX_AUTH_URL"] = f"http://127.0.0.1:{tv_port}/auth"
            if "uptime_kuma_url" not in settings.model_fields_set:
                env.update(SIMULATED_KUMA, UPTIME_KUMA_URL=f"http://127.0.0.1:{kuma_port}")
            overseerr_url = f"http://127.0.0.1:{overseerr_port}"
            if "overseerr_url" not in settings.model_fields_set:
                env.update(simulated_overseerr_env(overseerr_url))
                # The simulator's webhook agent tells MediaNest about changes at once (as a real
                # Overseerr does once its Webhook agent points at /webhooks/overseerr).
                env.setdefault("OVERSEERR_WEBHOOK_SECRET", secrets.token_urlsafe(32))
                simulated_webhook = (overseerr_url, env["OVERSEERR_WEBHOOK_SECRET"])
            wait_http(f"{env['PLEX_TV_URL']}/__sim__/state", sims, 30)
            wait_http(f"{overseerr_url}/api/v1/status", sims, 30)
            logger.info("Plex simulators: plex.tv on %s, Plex Media Server on port %s "
                        "(sign in as alice = owner/admin, bob or carol = members, mallory = no access)",
                        env["PLEX_TV_URL"], pms_port)
            if "overseerr_url" in settings.model_fields_set:
                logger.info("Using Overseerr at %s (the simulator on %s is unused)", settings.overseerr_url,
                            overseerr_url)
            else:
                logger.info("Overseerr simulator on %s (requests become available %s s after approval)",
                            overseerr_url, DEMO_AVAILABLE_AFTER_S)
            if "uptime_kuma_url" not in settings.model_fields_set:
                logger.info("Uptime Kuma simulator on %s", env["UPTIME_KUMA_URL"])
            video_url = f"http://127.0.0.1:{video_port}"
            wait_http(f"{video_url}/", sims, 30)
            logger.info("Demo playlist to paste in Downloads: %s/playlists/demo", video_url)
        else:
            logger.info("Using plex.tv at %s", settings.plex_tv_url)
        logger.info("Applying database migrations…")
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True)
        logger.info("Building and starting MediaNest (the first start takes a minute)…")
        web = spawn([str(Path(sys.executable).parent / "reflex"), "run", "--env", "prod", "--frontend-port", str(port),
                     "--backend-host", "127.0.0.1"], "medianest.log")
        wait_http(f"http://127.0.0.1:{port}/ping", web, 600)
        if simulated_webhook is not None:
            sim_url, secret = simulated_webhook
            httpx.post(f"{sim_url}/__sim__/config", timeout=5, json={
                "webhook_url": f"http://127.0.0.1:{port}/webhooks/overseerr", "webhook_authorization": secret,
            }).raise_for_status()
        logger.info("\n  MediaNest is running: open %s\n  Logs: %s\n  Press Ctrl-C to stop.\n",
                    public_url, log_dir)
        if public_url_configured and urlsplit(public_url).port not in (None, port):
            logger.info("  (MediaNest itself listens on port %s; MEDIANEST_PUBLIC_URL names another)", port)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = next(p for p in procs if p.poll() is not None)
        logger.error("A MediaNest process stopped unexpectedly (exit %s); see %s", failed.returncode, log_dir)
        return 1
    except KeyboardInterrupt:
        logger.info("Stopping…")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        logger.error("MediaNest could not start: %s (logs in %s)", exc, log_dir)
        return 1
    finally:
        stop(procs)


if __name__ == "__main__":
    sys.exit(main())
