"""Live status fan-out in the production configuration.

PostgreSQL, Redis, two Granian web workers and one Taskiq worker. N dashboard clients (N = 10,
50, 200) connect over Reflex's websocket protocol with their own signed-in session, load the
dashboard (the guard links them to the shared status board), then a service is flipped: its new
state is written and the live event published. For every client we measure the time from the
publish to the moment that client receives the change.

Usage: .venv/bin/python bench/status_fanout.py [--clients 10 50 200] [--flips 3] [--members 1|0]
(--members 1: every tab belongs to one member, as on a household's phone + laptop + TV; 0: one member per tab)
Prints p50 and p99 per N; the last line is a JSON object for the largest N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NAMESPACE = "/_event"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Stack:
    """A throw-away database and the production processes, all stopped and dropped at the end."""

    def __init__(self) -> None:
        self.db_name = f"medianest_bench_{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="medianest-bench-"))
        self.procs: list[subprocess.Popen] = []
        base = PG_ADMIN.rsplit("/", 1)[0]
        self.env = {
            **os.environ, "MEDIANEST_ENV": "test", "DATABASE_URL": f"{base}/{self.db_name}",
            "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": f"mnbench:{secrets.token_hex(3)}:",
            "JWT_SECRET": secrets.token_urlsafe(48), "ENCRYPTION_KEY": secrets.token_urlsafe(48),
            "MEDIANEST_DATA_DIR": str(self.tmp), "MEDIANEST_PUBLIC_URL": self.url,
            "GRANIAN_WORKERS": os.environ.get("BENCH_WEB_WORKERS", "2"),
            "STATUS_CHECK_INTERVAL_SECONDS": "3600", "PROMETHEUS_MULTIPROC_DIR": str(self.tmp),
            "REFLEX_USE_SYSTEM_BUN": "1", "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_CHECK_LATEST_VERSION": "false", "REFLEX_HTTP_CLIENT_BIND_ADDRESS": "0.0.0.0",
            "REFLEX_DIR": str(ROOT / ".reflex"), "LOG_LEVEL": "WARNING",
            "REFLEX_REDIS_MAX_CONNECTIONS": os.environ.get("REFLEX_REDIS_MAX_CONNECTIONS", "64"),
        }

    def __enter__(self) -> Stack:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        os.environ.update({k: self.env[k] for k in ("MEDIANEST_ENV", "DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX",
                                                    "JWT_SECRET", "ENCRYPTION_KEY", "MEDIANEST_DATA_DIR")})
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True)
        log = open(self.tmp / "server.log", "wb")
        self.procs.append(subprocess.Popen([str(bin_dir / "reflex"), "run", "--env", "prod", "--frontend-port",
                                            str(self.port), "--backend-host", "127.0.0.1"], cwd=ROOT, env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        self.procs.append(subprocess.Popen([str(bin_dir / "taskiq"), "worker", "medianest.tasks.registry:broker",
                                            "--workers", "1"], cwd=ROOT, env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit(f"MediaNest did not start; see {self.tmp / 'server.log'}")

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


async def session_cookie(session, user, *, user_agent: str) -> str:
    """A session cookie for ``user`` made the way sign-in makes it (session row, ticket, activation)."""
    from medianest.config import get_settings
    from medianest.security import issue_token
    from medianest.services import auth

    settings = get_settings()
    row = await auth.create_session(session, user=user, remember=True, settings=settings, client_ip="127.0.0.1",
                                    user_agent=user_agent)
    ticket = issue_token("ticket", row.id, secret=settings.secret_value("jwt_secret"), ttl=auth.TICKET_TTL)
    token, _ = await auth.activate_session(session, ticket=ticket, pin_cookie=None, settings=settings)
    return token


async def make_sessions(count: int, members: int = 1) -> list[str]:
    """``count`` signed-in sessions (as the sign-in flow leaves them) spread round-robin over
    ``members`` members: 1 is one member with every tab, ``count`` is one member per tab."""
    from medianest.db import session_scope
    from medianest.models import User

    async with session_scope() as session:
        users = [User(plex_id=4242 + i, username=f"bench{i}", role="user") for i in range(max(1, members))]
        session.add_all(users)
        await session.flush()
        return [await session_cookie(session, users[i % len(users)], user_agent="bench") for i in range(count)]


async def flip(status: str) -> float:
    """Write the new state of the "Bench" service and publish the live event; returns the publish time."""
    from medianest import live
    from medianest.db import session_scope
    from medianest.services import service_status

    async with session_scope() as session:
        await service_status.record(session, [service_status.CheckResult(key="bench", name="Bench", status=status)])
    published = time.perf_counter()
    await live.publish({"type": "status", "changes": [{"key": "bench", "new": status}]})
    return published


class DashboardClient:
    """Speaks Reflex's websocket protocol like a browser on the dashboard."""

    def __init__(self, url: str, cookie: str, guard_event: str, board_state: str) -> None:
        self.url, self.cookie = url, cookie
        self.guard_event, self.board_state = guard_event, board_state
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("event", self._on_update, namespace=NAMESPACE)
        self.expect: str | None = None
        self.received = asyncio.Event()
        self.received_at = 0.0
        self.linked = asyncio.Event()

    def _on_update(self, update: dict) -> None:
        board = (update.get("delta") or {}).get(self.board_state)
        if not board or "services_rx_state_" not in board:
            return
        self.linked.set()
        services = {s["key"]: s["status"] for s in board["services_rx_state_"]}
        if self.expect is not None and services.get("bench") == self.expect and not self.received.is_set():
            self.received_at = time.perf_counter()
            self.received.set()

    async def connect(self) -> None:
        await self.client.connect(f"{self.url}?token={uuid.uuid4()}", socketio_path="/_event",
                                  transports=["websocket"], namespaces=[NAMESPACE],
                                  headers={"Origin": self.url, "Cookie": f"mn_session={self.cookie}"})
        await self.client.emit("event", {"name": self.guard_event, "payload": {},
                                         "router_data": {"pathname": "/", "query": {}, "asPath": "/"}},
                               namespace=NAMESPACE)
        await asyncio.wait_for(self.linked.wait(), timeout=60)

    def arm(self, status: str) -> None:
        self.expect, self.received_at = status, 0.0
        self.received.clear()


async def measure(url: str, clients_n: int, flips: int, cookies: list[str]) -> list[float]:
    from medianest.state import SessionState, StatusBoard

    guard = f"{SessionState.get_full_name()}.guard"
    clients = [DashboardClient(url, cookies[i], guard, StatusBoard.get_full_name()) for i in range(clients_n)]
    for start in range(0, clients_n, 25):  # connect in waves, as browsers would arrive
        await asyncio.gather(*(c.connect() for c in clients[start:start + 25]))
    latencies: list[float] = []
    try:
        for i in range(flips):
            status = "down" if i % 2 == 0 else "up"
            for client in clients:
                client.arm(status)
            published = await flip(status)
            await asyncio.wait_for(asyncio.gather(*(c.received.wait() for c in clients)), timeout=30)
            latencies += [c.received_at - published for c in clients]
            await asyncio.sleep(0.5)
    finally:
        await asyncio.gather(*(c.client.disconnect() for c in clients), return_exceptions=True)
    return latencies


async def run(counts: list[int], flips: int, url: str, members: int) -> dict:
    from medianest.db import dispose_engines

    cookies = await make_sessions(max(counts), members if members > 0 else max(counts))
    await flip("up")
    result = {}
    for n in counts:
        latencies = await measure(url, n, flips, cookies)
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        print(f"clients={n:4d} samples={len(latencies):4d} p50={p50 * 1000:7.1f} ms  p99={p99 * 1000:7.1f} ms  "
              f"max={max(latencies) * 1000:7.1f} ms", flush=True)
        result = {"clients": n, "members": members if members > 0 else n, "p50_s": round(p50, 4),
                  "p99_s": round(p99, 4)}
    await dispose_engines()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--flips", type=int, default=3)
    parser.add_argument("--members", type=int, default=1,
                        help="members the tabs belong to: 1 (default) = one member with every tab, "
                             "0 = one member per tab")
    args = parser.parse_args()
    with Stack() as stack:
        result = asyncio.run(run(args.clients, args.flips, stack.url, args.members))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
