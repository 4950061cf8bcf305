"""``python -m medianest.simulators`` starts the apps, reports their URLs and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from medianest.simulators.fixtures import OVERSEERR_API_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_runner_serves_both_apps_and_exits_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "medianest.simulators", "--plex-tv-port", "0", "--pms-port", "0",
         "--pms-library-root", str(tmp_path), "--auto-approve", "bob", "--auto-approve-after", "0",
         "--kuma-port", "0", "--overseerr-port", "0", "--overseerr-flavour", "seerr",
         "--overseerr-available-after", "0", "--video-port", "0", "--video-data", str(tmp_path / "video")],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 15
        while len(urls) < 3 and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            match = re.search(r"(plex\.tv|PMS|Overseerr) simulator on (http://127\.0\.0\.1:\d+)", line)
            if match:
                urls[match.group(1)] = match.group(2)
        assert set(urls) == {"plex.tv", "PMS", "Overseerr"}, "runner did not report every URL"

        identity = httpx.get(f"{urls['PMS']}/identity", headers={"Accept": "application/json"})
        assert identity.json()["MediaContainer"]["machineIdentifier"]
        pin = httpx.post(f"{urls['plex.tv']}/api/v2/pins?strong=true",
                         headers={"Accept": "application/json", "X-Plex-Client-Identifier": "runner-test"}).json()
        polled = httpx.get(f"{urls['plex.tv']}/api/v2/pins/{pin['id']}",
                           headers={"Accept": "application/json", "X-Plex-Client-Identifier": "runner-test"})
        assert polled.json()["authToken"] == "sim-bob-token"  # --auto-approve bob
        assert (tmp_path / "Movies").is_dir() and (tmp_path / "TV Shows").is_dir()

        # Overseerr (Seerr flavour) is attached to the PMS: an approved request lands in the library.
        assert httpx.get(f"{urls['Overseerr']}/api/v1/status").json()["version"] == "3.1.0"
        created = httpx.post(f"{urls['Overseerr']}/api/v1/request", headers={"X-Api-Key": OVERSEERR_API_KEY},
                             json={"mediaType": "movie", "mediaId": 438631, "is4k": False})
        assert created.status_code == 201 and created.json()["status"] == 2  # the admin key auto-approves
        rating_key = None
        deadline = time.monotonic() + 10
        while rating_key is None and time.monotonic() < deadline:  # --overseerr-available-after 0
            media = httpx.get(f"{urls['Overseerr']}/api/v1/movie/438631",
                              headers={"X-Api-Key": OVERSEERR_API_KEY}).json()["mediaInfo"]
            rating_key = media["ratingKey"] if media["status"] == 5 else None
            time.sleep(0.05)
        assert rating_key is not None, "the request never became available"
        item = httpx.get(f"{urls['PMS']}/library/metadata/{rating_key}",
                         headers={"Accept": "application/json", "X-Plex-Token": "sim-alice-token"})
        assert item.json()["MediaContainer"]["Metadata"][0]["title"] == "Dune"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
