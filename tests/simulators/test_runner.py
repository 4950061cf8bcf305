"""``python -m medianest.simulators`` starts both apps, reports their URLs and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_runner_serves_both_apps_and_exits_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "medianest.simulators", "--plex-tv-port", "0", "--pms-port", "0",
         "--pms-library-root", str(tmp_path), "--auto-approve", "bob", "--auto-approve-after", "0"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 15
        while len(urls) < 2 and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            match = re.search(r"(plex\.tv|PMS) simulator on (http://127\.0\.0\.1:\d+)", line)
            if match:
                urls[match.group(1)] = match.group(2)
        assert set(urls) == {"plex.tv", "PMS"}, "runner did not report both URLs"

        identity = httpx.get(f"{urls['PMS']}/identity", headers={"Accept": "application/json"})
        assert identity.json()["MediaContainer"]["machineIdentifier"]
        pin = httpx.post(f"{urls['plex.tv']}/api/v2/pins?strong=true",
                         headers={"Accept": "application/json", "X-Plex-Client-Identifier": "runner-test"}).json()
        polled = httpx.get(f"{urls['plex.tv']}/api/v2/pins/{pin['id']}",
                           headers={"Accept": "application/json", "X-Plex-Client-Identifier": "runner-test"})
        assert polled.json()["authToken"] == "sim-bob-token"  # --auto-approve bob
        assert (tmp_path / "Movies").is_dir() and (tmp_path / "TV Shows").is_dir()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
