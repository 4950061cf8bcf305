"""Smoke test of `make run`'s launcher: embedded SQLite, no Redis, the bundled simulators,
a printed URL, a working sign-in hop, and Ctrl-C stopping everything it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_launcher_runs_embedded_mode_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "PLEX_TV_URL", "PLEX_AUTH_URL", "MEDIANEST_ENV",
                        "JWT_SECRET", "ENCRYPTION_KEY", "MEDIANEST_PUBLIC_URL"}}
    env.update({"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_PORT": str(port)})
    proc = subprocess.Popen([sys.executable, "-m", "medianest.launcher"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 420
        url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.search(r"MediaNest is running: open (\S+)", line)
            if match:
                url = match.group(1)
        assert url == f"http://127.0.0.1:{port}", "".join(output)

        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ok"
        critical = {name for name, check in health["checks"].items() if check["critical"]}
        assert critical == {"database"}  # no Redis in embedded mode
        assert (tmp_path / "medianest.db").exists() and (tmp_path / ".secrets.json").exists()
        assert httpx.get(f"{url}/login/", timeout=10).status_code == 200
        # In-process broker and schedules: the first status check runs at start, against the
        # bundled Uptime Kuma simulator.
        deadline = time.monotonic() + 30
        while 'service="NAS",status="up"' not in (metrics := httpx.get(f"{url}/metrics", timeout=10).text):
            assert time.monotonic() < deadline, metrics[-2000:]
            time.sleep(0.5)
        start = httpx.get(f"{url}/auth/plex/start", timeout=10)
        assert start.status_code == 303
        sim_auth = start.headers["location"]
        assert re.match(r"http://127\.0\.0\.1:\d+/auth#\?", sim_auth), sim_auth  # the bundled simulator
        sim_port = int(re.search(r":(\d+)/", sim_auth).group(1))
        assert _port_open(sim_port)
        # The bundled Overseerr simulator reports changes to MediaNest through its webhook agent.
        overseerr = re.search(r"Overseerr simulator on (\S+)", "".join(output)).group(1)
        config = httpx.get(f"{overseerr}/__sim__/state", timeout=10).json()["config"]
        assert config["webhook_url"] == f"{url}/webhooks/overseerr" and config["webhook_authorization"]
        assert httpx.post(f"{url}/webhooks/overseerr", json={}, timeout=10,
                          headers={"Authorization": "wrong"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = ""
        output.append(rest or "")
    assert proc.returncode == 0, "".join(output)
    time.sleep(0.5)
    assert not _port_open(port), "MediaNest still listening after Ctrl-C"
    assert not _port_open(sim_port), "simulators still listening after Ctrl-C"
