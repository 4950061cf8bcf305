"""``python -m medianest.simulators --pms-downloads-root DIR`` points the PMS "YouTube" section at DIR."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_downloads_root_flag_sets_the_youtube_sections_folder(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    process = subprocess.Popen(
        [sys.executable, "-m", "medianest.simulators", "--plex-tv-port", "0", "--pms-port", "0",
         "--pms-library-root", str(tmp_path / "library"), "--pms-downloads-root", str(downloads),
         "--kuma-port", "0", "--overseerr-port", "0"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        pms_url = None
        deadline = time.monotonic() + 15
        while pms_url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            match = re.search(r"PMS simulator on (http://127\.0\.0\.1:\d+)", line)
            pms_url = match.group(1) if match else None
        assert pms_url, "runner did not report the PMS URL"
        sections = httpx.get(f"{pms_url}/library/sections",
                             headers={"Accept": "application/json", "X-Plex-Token": "sim-alice-token"})
        youtube = next(d for d in sections.json()["MediaContainer"]["Directory"] if d["title"] == "YouTube")
        assert [loc["path"] for loc in youtube["Location"]] == [str(downloads)]
        assert downloads.is_dir() and not (tmp_path / "library" / "YouTube").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
