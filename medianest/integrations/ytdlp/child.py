"""The child process that runs yt-dlp: ``python -m medianest.integrations.ytdlp.child``.

Why a separate interpreter started with ``asyncio.create_subprocess_exec`` rather than
``multiprocessing`` (spawn): the parent gets native asyncio pipes and can kill the child's
whole process group (ffmpeg included) at any moment; the child gets exactly the environment
we hand it (no database URL, no API keys), and nothing of the parent's ``__main__`` (a Reflex
or Taskiq worker) is imported again. See ``process.py`` for the JSON-lines protocol.

A child serves requests one after the other: a download worker keeps it warm for the next item
(``pool.py``), so yt-dlp's start (imports, matching a link against its extractors, compiling the
generic extractor's patterns: more than a second of CPU) is paid once per child, not per video.
Started with ``--once`` (previews) it serves one request and exits. A warm child that gets no
request for :data:`IDLE_EXIT_S` (or ``--idle-exit``) exits by itself.

Inside the child:

* a reader thread hands requests to the main thread and turns ``{"op": "cancel"}`` (or the end of
  stdin) into the current request's ``threading.Event``; the progress hook, the post-processor
  hook and the match filter raise ``DownloadCancelled`` when it is set. A cancelled child takes no
  further request. The end of stdin also means the parent is done with us or has died (even by
  SIGKILL, as the kernel closes its end of the pipe): if the child has not stopped
  :data:`ORPHAN_GRACE_S` later, it kills its own process group (ffmpeg included);
* the hooks only put small dicts on a queue (throttled to 4 per second, plus every
  ``finished``); a writer thread serialises them to the protocol pipe;
* ``socket.getaddrinfo`` is wrapped so that every connection yt-dlp opens skips private,
  loopback, link-local, multicast and reserved addresses (unless the current request allows
  them), which also covers redirects and DNS answers that change after the parent's check.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import signal
import socket
import sys
import threading
import traceback
from typing import Any, BinaryIO

from .classify import AddressRefused, classify
from .errors import DownloadFailed, error_parts
from .jobs import ItemJob
from .links import address_is_private
from .worker import run_download, run_preview

#: After the end of stdin, how long the child may take to stop on its own before it is killed.
ORPHAN_GRACE_S = 2.0
#: A warm child with no request for this long exits by itself (the pool drops it sooner).
IDLE_EXIT_S = 600.0


class Emitter:
    """Events to the parent: hooks ``put`` (no I/O on yt-dlp's thread), one thread writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="ytdlp-emitter", daemon=True)
        self._thread.start()

    def put(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _write(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._out.write((json.dumps(event, default=str) + "\n").encode())
                self._out.flush()
            except (BrokenPipeError, OSError):
                return


class AddressGuard:
    """``socket.getaddrinfo`` of this process, wrapped once: while :attr:`allow_private` is false
    (set per request), private answers are dropped, and a name with only private answers fails
    with :class:`AddressRefused`."""

    def __init__(self) -> None:
        self.allow_private = False
        self._real = socket.getaddrinfo
        socket.getaddrinfo = self._guarded

    def _guarded(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        infos = self._real(host, port, *args, **kwargs)
        if self.allow_private:
            return infos
        kept = [info for info in infos
                if not address_is_private(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))]
        if not kept:
            raise AddressRefused(f"{host} resolves only to private or local addresses")
        return kept


class Commands:
    """What the parent sends: requests for the main thread, cancels for the request running now."""

    def __init__(self) -> None:
        self.requests: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self.cancel = threading.Event()
        self._lock = threading.Lock()

    def next_request(self, idle_s: float) -> tuple[dict[str, Any], threading.Event] | None:
        """The next request with a fresh cancel flag; None at the end of stdin or after ``idle_s``."""
        try:
            request = self.requests.get(timeout=idle_s)
        except queue.Empty:
            return None
        if request is None:
            return None
        with self._lock:
            if self.cancel.is_set():  # stdin ended (or a cancel came) before this request started
                return None
            self.cancel = threading.Event()
            return request, self.cancel

    def read(self, stream: BinaryIO) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if message.get("op") == "cancel":
                with self._lock:
                    self.cancel.set()
            else:
                self.requests.put(message)
        # The parent closed our stdin: it is done with us, or it died (a worker killed with SIGKILL
        # cannot stop us; the kernel closes its end of the pipe). Stop at the next hook; if no hook
        # comes (a page being fetched, ffmpeg running), end the whole process group soon after, so
        # nothing keeps downloading for a worker that is gone.
        with self._lock:
            self.cancel.set()
        self.requests.put(None)
        timer = threading.Timer(ORPHAN_GRACE_S, _end_process_group)
        timer.daemon = True
        timer.start()


def _end_process_group() -> None:
    """SIGKILL this process and, when it leads its own group (the parent starts it in a session
    of its own), everything it started (ffmpeg)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def handle(request: dict[str, Any], *, guard: AddressGuard, emitter: Emitter,
           cancel: threading.Event) -> dict[str, Any]:
    """One request to its last event (``done``, ``preview`` or ``error``)."""
    try:
        op = request.get("op")
        if op == "download":
            job = ItemJob.from_json(request["job"])
            guard.allow_private = job.allow_private
            return run_download(job, emitter=emitter, cancel=cancel)
        if op == "preview":
            guard.allow_private = bool(request.get("allow_private"))
            return run_preview(request, cancel=cancel)
        return {"event": "error", **error_parts(DownloadFailed(raw=f"unknown op {op!r}"))}
    except BaseException as exc:  # the parent must always hear why the request ended
        traceback.print_exc(file=sys.stderr)
        failure = classify(exc) if isinstance(exc, Exception) else DownloadFailed(raw=repr(exc))
        return {"event": "error", **error_parts(failure)}
    finally:
        guard.allow_private = False


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    once = "--once" in args
    idle_s = float(args[args.index("--idle-exit") + 1]) if "--idle-exit" in args else IDLE_EXIT_S
    # Our protocol gets a private copy of stdout; fd 1 itself now points at stderr, so nothing
    # yt-dlp or ffmpeg prints can corrupt the protocol.
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emitter = Emitter(protocol)
    guard = AddressGuard()
    commands = Commands()
    threading.Thread(target=commands.read, args=(sys.stdin.buffer,), name="ytdlp-commands", daemon=True).start()
    while (taken := commands.next_request(idle_s)) is not None:
        request, cancel = taken
        emitter.put(handle(request, guard=guard, emitter=emitter, cancel=cancel))
        if once or cancel.is_set():  # a cancelled child is not used again
            break
    emitter.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Daemon threads may still block on stdin; leave without waiting for them.
    os._exit(code)
