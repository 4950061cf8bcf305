"""The yt-dlp child dies with its parent: the end of its stdin (what a SIGKILLed worker leaves)
stops it even where no yt-dlp hook would ever notice a cancel. No network: a local socket that
accepts connections and never answers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from medianest.integrations.ytdlp import ItemJob
from medianest.integrations.ytdlp.child import ORPHAN_GRACE_S
from medianest.integrations.ytdlp.process import ChildProcess


async def test_a_child_whose_parent_is_gone_ends_its_process_group_even_when_stuck(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    silent.setblocking(False)
    port = silent.getsockname()[1]
    job = ItemJob(url=f"http://127.0.0.1:{port}/watch", expected_id="x", output_dir=tmp_path / "out", stem="x",
                  temp_dir=tmp_path / "tmp", allowed_hosts=("127.0.0.1",), allow_private=True, socket_timeout=120,
                  retries=0)
    child = await ChildProcess.start({"op": "download", "job": job.to_json()})
    pid = child.proc.pid
    try:
        # yt-dlp is now waiting for a page that never comes: no hook runs, a cancel goes unseen.
        conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(silent), 30)
        await asyncio.sleep(0.5)
        assert child.running
        assert child.proc.stdin is not None
        closed = time.monotonic()
        child.proc.stdin.close()  # what the kernel does when the worker is killed
        code = await child.wait(ORPHAN_GRACE_S + 3)
        took = time.monotonic() - closed
        assert code == -signal.SIGKILL, (code, child.stderr_tail())
        assert ORPHAN_GRACE_S - 0.5 < took < ORPHAN_GRACE_S + 2
        with pytest.raises(ProcessLookupError):  # nothing of its group is left
            os.killpg(pid, 0)
        conn.close()
    finally:
        await child.close()
        silent.close()
