"""Sign-in and start-up timings, as a person would meet them.

1. Start-up: from `make run` (dependencies already installed) to the first
   page served (`GET /login/` answers 200).
2. Sign-in: median over N runs of the time from the click on "Sign in with Plex" to the signed-in
   shell (the welcome heading), with the simulated Plex page approving at once.

Usage: .venv/bin/python bench/signin.py [--runs 10]
Prints one line per figure and, last, a JSON object with all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HOUSEHOLD = "517aed8117af122796b91655a5bcb730f27164dd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_launcher(data_dir: str) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "PLEX_TV_URL", "PLEX_AUTH_URL", "MEDIANEST_PUBLIC_URL"}}
    # Eleven sign-ins from one IP would trip the 5-per-15-minutes limit that this does not measure.
    env.update({"MEDIANEST_DATA_DIR": data_dir, "MEDIANEST_PORT": str(port), "AUTH_RATE_LIMIT": "1000"})
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"launcher exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/login/", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > 600:
            raise SystemExit("MediaNest did not serve a page within 600 s")
        time.sleep(0.1)


def sign_in(browser, url: str, username: str) -> float:
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/login")
    button = page.locator("#plex-sign-in")
    expect(button).to_be_visible(timeout=30_000)
    started = time.perf_counter()
    button.click()
    page.locator(f"#approve-{username}").click()
    if username == "alice":
        page.locator(f"#choose-{HOUSEHOLD}").click(timeout=30_000)
    expect(page.locator("#welcome-name")).to_have_text(username, timeout=30_000)
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medianest-bench-") as data_dir:
        proc, url, startup_s = start_launcher(data_dir)
        print(f"make run -> first page served: {startup_s:.2f} s")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
                sign_in(browser, url, "alice")  # first user: admin + household set-up, not measured
                times = [sign_in(browser, url, "bob") for _ in range(args.runs)]
                browser.close()
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a person would stop `make run`
            proc.wait(timeout=60)
    median = statistics.median(times)
    print(f"sign-in click -> signed-in shell over {len(times)} runs: median {median:.3f} s, "
          f"min {min(times):.3f} s, max {max(times):.3f} s")
    print(json.dumps({"startup_s": round(startup_s, 2), "signin_runs": len(times),
                      "signin_median_s": round(median, 3), "signin_min_s": round(min(times), 3),
                      "signin_max_s": round(max(times), 3)}))


if __name__ == "__main__":
    main()
