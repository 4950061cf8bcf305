"""From Save on Admin → Services to the new value being used, in the production configuration.

PostgreSQL, Redis, two Granian web workers and one Taskiq worker (``bench/status_fanout.py``'s
stack), with Overseerr's address pointing at a small stand-in in this process that records the
``X-Api-Key`` of every request it gets. Each change saves a new Overseerr API key and webhook
secret the way the page does (``service_config.save``, commit, ``config_version.bump``), from this
process, so that every web worker and the task worker learn of it through Redis. Then:

- web workers: ``POST /webhooks/overseerr`` with the new secret, on fresh connections (spread
  over both workers by the kernel), six at once every 20 ms; the time is that of the first request
  answered 200 after which none was refused any more;
- task worker: a ``status.check`` task sent every 25 ms calls Overseerr's ``/api/v1/status`` with
  the key in force; the time is that of the first request carrying the new key.

Usage: .venv/bin/python bench/config_apply.py [--changes 20]
Prints every change's two times and p50 / p95 / max; the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TIMEOUT_S = 10.0


class FakeOverseerr:
    """Answers every request like ``/api/v1/status`` and records when which key arrived."""

    def __init__(self) -> None:
        from bench.status_fanout import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[float, str]] = []
        self._server = uvicorn.Server(uvicorn.Config(self._app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off", interface="asgi3"))

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        key = dict(scope["headers"]).get(b"x-api-key", b"").decode()
        self.seen.append((time.perf_counter(), key))
        body = json.dumps({"version": "1.34.0", "commitTag": "bench"}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    def __enter__(self) -> FakeOverseerr:
        threading.Thread(target=self._server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the Overseerr stand-in did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True


def new_key() -> str:
    return secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")


async def web_lag(url: str, secret: str, started: float) -> float:
    """Seconds from ``started`` to the first accepted webhook after which none is refused."""
    sent: list[tuple[float, int]] = []
    body = {"notification_type": "TEST_NOTIFICATION"}
    limits = httpx.Limits(max_keepalive_connections=0)  # a fresh connection each time: any worker
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=5) as client:
        async def one() -> None:
            at = time.perf_counter()
            response = await client.post("/webhooks/overseerr", json=body, headers={"Authorization": secret})
            sent.append((at, response.status_code))

        while time.perf_counter() - started < TIMEOUT_S:
            await asyncio.gather(*(one() for _ in range(6)))
            refused = [at for at, status in sent if status != 200]
            accepted_after = [at for at, status in sent if status == 200 and (not refused or at > max(refused))]
            # Settled: a full second (about 300 requests) accepted since the last refusal.
            if accepted_after and time.perf_counter() - min(accepted_after) > 1.0:
                return min(accepted_after) - started
            await asyncio.sleep(0.02)
    raise SystemExit(f"the web workers did not take the new webhook secret within {TIMEOUT_S} s")


async def worker_lag(fake: FakeOverseerr, key: str, started: float) -> float:
    from medianest.tasks.registry import broker

    check_services = broker.find_task("status.check")
    if check_services is None:
        raise SystemExit("the registry has no status.check task")
    while time.perf_counter() - started < TIMEOUT_S:
        seen = [at for at, used in list(fake.seen) if used == key and at >= started]
        if seen:
            return min(seen) - started
        await check_services.kiq()
        await asyncio.sleep(0.025)
    raise SystemExit(f"the task worker did not use the new API key within {TIMEOUT_S} s")


async def run(url: str, fake: FakeOverseerr, changes: int) -> dict:
    from bench.status_fanout import percentile
    from medianest import config_version
    from medianest.config import get_settings
    from medianest.db import dispose_engines, session_scope
    from medianest.models import Role, User
    from medianest.services import service_config
    from medianest.services.auth import CurrentUser
    from medianest.tasks.registry import broker
    from medianest.wiring import get_registry

    await broker.startup()
    async with session_scope() as session:
        user = User(username="bench-admin", role=Role.ADMIN.value)
        session.add(user)
        await session.flush()
        admin = CurrentUser(id=user.id or 0, username=user.username, email=None, avatar_url=None,
                            role=user.role, is_local=False, must_change_password=False, session_id="bench")
    web, worker = [], []
    for i in range(changes):
        key, secret = new_key(), new_key()
        started = time.perf_counter()
        async with session_scope() as session:
            await service_config.save(session, actor=admin, service="overseerr", env=get_settings(),
                                      encryptor=get_registry().encryptor,
                                      form={"overseerr_api_key": key, "overseerr_webhook_secret": secret})
        await config_version.bump()
        web_s, worker_s = await asyncio.gather(web_lag(url, secret, started), worker_lag(fake, key, started))
        web.append(web_s)
        worker.append(worker_s)
        print(f"change {i + 1:2d}: other web worker {web_s * 1000:6.0f} ms   task worker {worker_s * 1000:6.0f} ms",
              flush=True)
        await asyncio.sleep(0.5)
    await broker.shutdown()
    await dispose_engines()
    both = [max(a, b) for a, b in zip(web, worker, strict=True)]
    for name, values in (("web workers", web), ("task worker", worker), ("both", both)):
        p50, p95 = statistics.median(values) * 1000, percentile(values, 0.95) * 1000
        print(f"{name:12s} p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  max {max(values) * 1000:6.0f} ms", flush=True)
    return {"changes": changes, "web_p95_s": round(percentile(web, 0.95), 3),
            "worker_p95_s": round(percentile(worker, 0.95), 3), "p95_s": round(percentile(both, 0.95), 3),
            "max_s": round(max(both), 3), "web_s": [round(v, 3) for v in web],
            "worker_s": [round(v, 3) for v in worker]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    from bench.status_fanout import Stack

    with FakeOverseerr() as fake:
        stack = Stack()
        stack.env.update({"OVERSEERR_URL": fake.url, "OVERSEERR_API_KEY": new_key(),
                          "OVERSEERR_WEBHOOK_SECRET": new_key()})
        with stack:
            result = asyncio.run(run(stack.url, fake, args.changes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
