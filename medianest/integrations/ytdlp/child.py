"""The child process that runs yt-dlp: ``python -m medianest.integrations.ytdlp.child``.

Why a separate interpreter started with ``asyncio.create_subprocess_exec`` rather than
``multiprocessing`` (spawn): the parent gets native asyncio pipes and can kill the child's
whole process group (ffmpeg included) at any moment; the child gets exactly the environment
we hand it (no database URL, no API keys), and nothing of the parent's ``__main__`` (a Reflex
or Taskiq worker) is imported again. See ``process.py`` for the JSON-lines protocol.

Inside the child:

* a reader thread turns ``{"op": "cancel"}`` (or the end of stdin) into a ``threading.Event``;
  the progress hook, the post-processor hook and the match filter raise ``DownloadCancelled``
  when it is set. The end of stdin also means the parent is done with us or has died (even by
  SIGKILL, as the kernel closes its end of the pipe): if the child has not stopped
  :data:`ORPHAN_GRACE_S` later, it kills its own process group (ffmpeg included);
* the hooks only put small dicts on a queue (throttled to 4 per second, plus every
  ``finished``); a writer thread serialises them to the protocol pipe;
* ``socket.getaddrinfo`` is wrapped so that every connection yt-dlp opens skips private,
  loopback, link-local, multicast and reserved addresses (unless the job allows them), which
  also covers redirects and DNS answers that change after the parent's check.
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


def install_address_guard(*, allow_private: bool) -> None:
    """Wrap ``socket.getaddrinfo`` for this process: private answers are dropped, and a name
    with only private answers fails with :class:`AddressRefused`."""
    if allow_private:
        return
    real = socket.getaddrinfo

    def guarded(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        infos = real(host, port, *args, **kwargs)
        kept = [info for info in infos
                if not address_is_private(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))]
        if not kept:
            raise AddressRefused(f"{host} resolves only to private or local addresses")
        return kept

    socket.getaddrinfo = guarded


def _read_commands(stream: BinaryIO, cancel: threading.Event) -> None:
    for line in stream:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("op") == "cancel":
            cancel.set()
    # The parent closed our stdin: it is done with us, or it died (a worker killed with SIGKILL
    # cannot stop us; the kernel closes its end of the pipe). Stop at the next hook; if no hook
    # comes (a page being fetched, ffmpeg running), end the whole process group soon after, so
    # nothing keeps downloading for a worker that is gone.
    cancel.set()
    timer = threading.Timer(ORPHAN_GRACE_S, _end_process_group)
    timer.daemon = True
    timer.start()


def _end_process_group() -> None:
    """SIGKILL this process and, when it leads its own group (the parent starts it in a session
    of its own), everything it started (ffmpeg)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def main() -> int:
    # Our protocol gets a private copy of stdout; fd 1 itself now points at stderr, so nothing
    # yt-dlp or ffmpeg prints can corrupt the protocol.
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emitter = Emitter(protocol)
    stdin = sys.stdin.buffer
    try:
        request = json.loads(stdin.readline() or b"{}")
        cancel = threading.Event()
        threading.Thread(target=_read_commands, args=(stdin, cancel), name="ytdlp-commands", daemon=True).start()
        op = request.get("op")
        if op == "download":
            job = ItemJob.from_json(request["job"])
            install_address_guard(allow_private=job.allow_private)
            event = run_download(job, emitter=emitter, cancel=cancel)
        elif op == "preview":
            install_address_guard(allow_private=bool(request.get("allow_private")))
            event = run_preview(request, cancel=cancel)
        else:
            event = {"event": "error", **error_parts(DownloadFailed(raw=f"unknown op {op!r}"))}
    except BaseException as exc:  # the parent must always hear why we stopped
        traceback.print_exc(file=sys.stderr)
        failure = classify(exc) if isinstance(exc, Exception) else DownloadFailed(raw=repr(exc))
        event = {"event": "error", **error_parts(failure)}
    emitter.put(event)
    emitter.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Daemon threads may still block on stdin; leave without waiting for them.
    os._exit(code)
