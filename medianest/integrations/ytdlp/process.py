"""The parent's side of the child process: start it with a minimal environment, exchange JSON
lines, and stop it — politely first, then by killing its whole process group (ffmpeg included).

Protocol (one JSON object per line, UTF-8):

* parent → child (stdin): requests, ``{"op": "download", "job": {…}}`` or ``{"op": "preview", …}``,
  one at a time (the next after the last event of the one before), and ``{"op": "cancel"}`` for
  the running one (a child that was sent a cancel is never given another request). The child
  treats the end of stdin (its parent died) as a cancel, and kills its own process group if that
  has not stopped it within ``child.ORPHAN_GRACE_S``.
* child → parent (stdout): ``{"event": "progress" | "final", …}`` while a request runs, then
  exactly one last event, ``{"event": "done" | "preview" | "error", …}``.
  Anything else the child or ffmpeg would print is sent to stderr, which the parent keeps a
  short tail of for the log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CHILD_MODULE = "medianest.integrations.ytdlp.child"
# The folder that holds the ``medianest`` package: the child runs ``-m`` from there.
_PROJECT_ROOT = Path(__file__).resolve().parents[3]
# The child needs to find programs (ffmpeg, deno), write its cache, and read certificates; it
# gets no database URL, no API keys, no tokens. Proxy variables are left out on purpose: the
# child's address guard would see the proxy's address instead of the site's.
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_CACHE_HOME", "SSL_CERT_FILE",
             "SSL_CERT_DIR")
#: The events that end a request.
LAST_EVENTS = frozenset({"done", "preview", "error"})
_LINE_LIMIT = 32 * 1024 * 1024
_STDERR_LINES = 40


def child_env() -> dict[str, str]:
    """The whole environment of the child."""
    env = {key: os.environ[key] for key in _ENV_KEEP if key in os.environ}
    # The interpreter's own bin folder first: a virtualenv's ``deno`` (YouTube's JavaScript
    # runtime, installed from PyPI) is found even when the venv was never "activated".
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


class ChildProcess:
    """One running child. Use :meth:`spawn` (or :meth:`start` for a single request), send each
    request with :meth:`request`, iterate :meth:`events` to its last event, and always
    :meth:`close`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.requests = 0
        #: A request was sent and its last event (``done``, ``preview`` or ``error``) has not come yet.
        self.busy = False
        #: Set once the child was asked to cancel (or misbehaved): it must not get another request.
        self.spent = False
        self.idle_since = time.monotonic()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def spawn(cls, *, once: bool = False, idle_exit_s: float | None = None) -> ChildProcess:
        """A child waiting for requests: ``once`` serves one and exits; otherwise it exits by
        itself after ``idle_exit_s`` without a request (the child's default when None)."""
        args = ["--once"] if once else []
        if idle_exit_s is not None:
            args += ["--idle-exit", str(idle_exit_s)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-s", "-m", CHILD_MODULE, *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=child_env(), cwd=str(_PROJECT_ROOT), start_new_session=True, limit=_LINE_LIMIT)
        return cls(proc)

    @classmethod
    async def start(cls, request: dict[str, Any]) -> ChildProcess:
        """A child for this one request, already sent."""
        child = await cls.spawn(once=True)
        await child.request(request)
        return child

    async def request(self, message: dict[str, Any]) -> None:
        """Send a request (a download or a preview)."""
        self.requests += 1
        self.busy = True
        await self.send(message)

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def send(self, message: dict[str, Any]) -> None:
        """One line to the child; a child that has gone away is not an error here."""
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write((json.dumps(message) + "\n").encode())
            await stdin.drain()

    async def cancel(self) -> None:
        """Ask the running request to stop (the child then exits; it gets no further request)."""
        self.spent = True
        await self.send({"op": "cancel"})

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Events until the child closes its stdout."""
        assert self.proc.stdout is not None
        while True:
            try:
                line = await self.proc.stdout.readline()
            except ValueError:  # a line over the limit: the child is misbehaving
                logger.warning("yt-dlp child sent an over-long line; ignored")
                continue
            if not line:
                return
            try:
                event = json.loads(line)
            except ValueError:
                logger.warning("yt-dlp child sent a line that is not JSON: %r", line[:200])
                continue
            if isinstance(event, dict):
                if event.get("event") in LAST_EVENTS:
                    self.busy = False
                yield event

    async def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the child is still running after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return None

    async def stop(self, *, grace: float) -> None:
        """Ask the child to cancel, give it ``grace`` seconds, then SIGTERM and (0.2 s later)
        SIGKILL its process group, which also ends any ffmpeg it started."""
        if self.running:
            await self.cancel()
            if await self.wait(grace) is None:
                self._signal_group(signal.SIGTERM)
                if await self.wait(0.2) is None:
                    self._signal_group(signal.SIGKILL)
                    await self.wait(2.0)
        # Grandchildren (ffmpeg) outlive a killed child in its group; end them too.
        self._signal_group(signal.SIGKILL)

    async def close(self) -> None:
        """End the child and release the pipes: the end of its stdin lets an idle child exit at
        once (a busy one cancels); one still running a second later is stopped."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        if self.running and await self.wait(1.0) is None:
            await self.stop(grace=0)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._stderr_task, 1.0)
        if not self._stderr_task.done():
            self._stderr_task.cancel()

    def kill(self) -> None:
        """SIGKILL the child's process group now, without its event loop (which may be closed)."""
        self.spent = True
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while True:
            try:
                line = await self.proc.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self._stderr.append(text)
            logger.debug("yt-dlp child: %s", text)
