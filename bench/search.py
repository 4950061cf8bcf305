"""Search through the UI event path, in the production configuration.

The stack of ``bench/status_fanout.py`` (PostgreSQL database of its own, Redis with a key prefix of
its own, ``reflex run --env prod`` with two Granian workers, one Taskiq worker) plus the bundled
simulators in a separate process (``python -m medianest.simulators``), with a latency added to the
Overseerr simulator's ``/api/v1/search`` (``--latency-ms``, default 150 ms: the TMDB round trip a
real Overseerr pays) through its fault hook ``POST /__sim__/faults``.

Members: 20 (``--members``) distinct signed-in members, one websocket each: alice, bob and carol
(the simulator accounts, Plex ids 1001-1003, alice admin and owner of the household server, which
is set up) and ``member04`` … with Plex ids 9004 … that Overseerr does not know (search does not
need the mapping). Their sessions are issued through ``medianest.services.auth`` directly in the
benchmark's database, as ``bench/status_fanout.py`` does; the session cookie ``mn_session`` goes
with the websocket handshake. Each client speaks Reflex's Socket.IO protocol like a browser on
``/search``: ``SearchState.load`` (on_load), then ``SearchState.set_query(text)`` per search.

Per search we measure the time from emitting ``set_query`` to receiving the delta that carries the
final ``results`` (and, for an uncached search, ``searching`` back to false). All members search at the
same moment, each a different query (20 queries that all return titles from the simulator's catalogue). Per round:

- direct: the same 20 queries at the same concurrency straight to the simulator from this process,
  with a plain ``httpx.AsyncClient`` (keep-alive, the reference of the ratio) and with MediaNest's
  own ``OverseerrClient.search`` (reported for comparison);
- uncached: the search cache keys ``<REDIS_KEY_PREFIX>search:v1:*`` are deleted, then all search;
- cached: the same queries again (member i searches what member i+1 just searched, so every member
  gets new results, all from the cache) without clearing.

One warm-up round is not counted. ``uncached_overhead_ratio`` = uncached p50 through the UI path /
direct (plain httpx) p50. Then, as a diagnostic, one member searches alone (20 uncached, 20 cached,
20 direct), which tells the cost of one search from the queueing of 20 at once.

Usage: .venv/bin/python bench/search.py [--members 20] [--rounds 5] [--latency-ms 150]
The last line is a JSON object: {"cached_p95_ms": …, "uncached_overhead_ratio": …, …}.
Targets: cached p95 under 50 ms, uncached overhead ratio under 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis as redis_sync
import redis.asyncio as aioredis
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from status_fanout import NAMESPACE, ROOT, Stack, free_port, percentile, session_cookie

sys.path.insert(0, str(ROOT))
from medianest.integrations.overseerr import OverseerrClient, search_query_string
from medianest.launcher import simulated_overseerr_env
from medianest.simulators import fixtures

#: Queries that all find something in the simulator's catalogue (1 to 18 titles each).
QUERIES = ["heat", "matrix", "dune", "breaking", "the", "inception", "alien", "blade", "godfather", "pulp",
           "interstellar", "sherlock", "severance", "last of us", "office", "a", "er", "in", "ar", "e"]
SEARCH_TIMEOUT_S = 30.0
REAL_ACCOUNTS = (("alice", 1001, "admin"), ("bob", 1002, "user"), ("carol", 1003, "user"))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Simulators:
    """``python -m medianest.simulators`` on free loopback ports, stopped by its pid at the end."""

    def __init__(self, log_path: Path) -> None:
        self.ports = {name: free_port() for name in ("plex-tv", "pms", "kuma", "overseerr")}
        self.overseerr_url = f"http://127.0.0.1:{self.ports['overseerr']}"
        self.plex_tv_url = f"http://127.0.0.1:{self.ports['plex-tv']}"
        self.pms_url = f"http://127.0.0.1:{self.ports['pms']}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Simulators:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "medianest.simulators", "--host", "127.0.0.1",
             "--plex-tv-port", str(self.ports["plex-tv"]), "--pms-port", str(self.ports["pms"]),
             "--kuma-port", str(self.ports["kuma"]), "--overseerr-port", str(self.ports["overseerr"]),
             "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the simulators exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.overseerr_url}/api/v1/status", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit(f"the simulators did not start; see {self.log_path}")

    def set_search_latency(self, latency_ms: int) -> dict:
        response = httpx.post(f"{self.overseerr_url}/__sim__/faults",
                              json={"latency_ms": latency_ms, "path_prefix": "/api/v1/search"}, timeout=5)
        response.raise_for_status()
        return response.json()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


async def make_members(count: int, pms_url: str) -> list[str]:
    """``count`` signed-in members (one session each) and the household server; their session cookies."""
    from medianest.db import session_scope
    from medianest.models import User
    from medianest.services import system

    accounts = [*REAL_ACCOUNTS, *((f"member{i:02d}", 9000 + i, "user") for i in range(4, count + 1))][:count]
    cookies = []
    async with session_scope() as session:
        await system.set_household_server(session, system.HouseholdServer(
            machine_id=fixtures.HOUSEHOLD_MACHINE_ID, name=fixtures.HOUSEHOLD_NAME, url=pms_url,
            owner_plex_id=1001))
        for username, plex_id, role in accounts:
            user = User(plex_id=plex_id, username=username, role=role)
            session.add(user)
            await session.flush()
            cookies.append(await session_cookie(session, user, user_agent="bench-search"))
    return cookies


class SearchClient:
    """One member's tab on /search, speaking Reflex's websocket protocol like the browser."""

    ROUTER = {"pathname": "/search", "query": {}, "asPath": "/search"}

    def __init__(self, url: str, cookie: str, session_state: str, search_state: str) -> None:
        self.url, self.cookie = url, cookie
        self.session_state, self.search_state = session_state, search_state
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("event", self._on_update, namespace=NAMESPACE)
        self.loaded = asyncio.Event()
        self.user_name = ""
        self.last_update: dict = {}
        self.waiting = False
        self.done = asyncio.Event()
        self.done_at = 0.0
        self.results: list[dict] = []
        self.error = ""
        self.kind_wanted: str | None = None

    def _on_update(self, update: dict) -> None:
        now = time.perf_counter()
        self.last_update = update
        delta = update.get("delta") or {}
        session = delta.get(self.session_state) or {}
        if session.get("user_name_rx_state_"):
            self.user_name = session["user_name_rx_state_"]
        search = delta.get(self.search_state) or {}
        if "configured_rx_state_" in search:
            self.loaded.set()
        if self.kind_wanted is not None and search.get("kind_rx_state_") == self.kind_wanted:
            self.kind_wanted = None
            self.done_at = now
            self.done.set()
        # A cached search answers in one delta (``searching`` never changes); an uncached one first
        # sends ``searching: true`` and then the results with ``searching: false``.
        if self.waiting and search.get("searching_rx_state_") is not True and "results_rx_state_" in search:
            self.waiting = False
            self.done_at = now
            self.results = search["results_rx_state_"]
            self.error = search.get("error_rx_state_", "")
            self.done.set()

    async def _emit(self, handler: str, payload: dict) -> None:
        await self.client.emit("event", {"name": f"{self.search_state}.{handler}", "payload": payload,
                                         "router_data": self.ROUTER}, namespace=NAMESPACE)

    async def open_page(self) -> None:
        await self.client.connect(f"{self.url}?token={uuid.uuid4()}", socketio_path="/_event",
                                  transports=["websocket"], namespaces=[NAMESPACE],
                                  headers={"Origin": self.url, "Cookie": f"mn_session={self.cookie}"})
        await self._emit("load", {})
        try:
            await asyncio.wait_for(self.loaded.wait(), timeout=60)
        except TimeoutError:
            raise SystemExit(f"SearchState.load got no answer; last update: {self.last_update}") from None
        if not self.user_name:
            raise SystemExit(f"not signed in after SearchState.load; last update: {self.last_update}")

    async def set_kind(self, kind: str) -> float:
        """``SearchState.set_kind``: a handler that only checks the session and sets one value —
        the floor of any event on this path (websocket, Reflex state in Redis, session check)."""
        self.done.clear()
        self.kind_wanted = kind
        started = time.perf_counter()
        await self._emit("set_kind", {"kind": kind})
        try:
            await asyncio.wait_for(self.done.wait(), timeout=SEARCH_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit(f"set_kind({kind!r}) got no answer; last update: {self.last_update}") from None
        return self.done_at - started

    async def search(self, query: str) -> tuple[float, list[dict], str]:
        self.done.clear()
        self.waiting = True
        started = time.perf_counter()
        await self._emit("set_query", {"text": query})
        try:
            await asyncio.wait_for(self.done.wait(), timeout=SEARCH_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit(f"no final search delta for {query!r} within {SEARCH_TIMEOUT_S} s; "
                             f"last update: {self.last_update}") from None
        return self.done_at - started, self.results, self.error


def check_results(query: str, results: list[dict], error: str) -> None:
    """Every search must come back with real titles that match it (else the timing means nothing)."""
    if error or not results:
        raise SystemExit(f"search {query!r} returned no results (error: {error!r})")
    if not all(query.lower() in r["title"].lower() for r in results):
        raise SystemExit(f"search {query!r} returned titles that do not match: {[r['title'] for r in results]}")


async def ui_round(clients: list[SearchClient], queries: list[str], spread_s: float = 0.0) -> list[float]:
    """Every member searches once: all at the same instant, or (``spread_s``) each at a random
    moment within that window, as members typing independently would."""
    async def one(client: SearchClient, query: str) -> tuple[float, list[dict], str]:
        if spread_s:
            await asyncio.sleep(random.uniform(0, spread_s))
        return await client.search(query)

    outcomes = await asyncio.gather(*(one(c, q) for c, q in zip(clients, queries, strict=True)))
    for q, (_, results, error) in zip(queries, outcomes, strict=True):
        check_results(q, results, error)
    return [t for t, _, _ in outcomes]


async def http_round(http: httpx.AsyncClient, url: str, queries: list[str], spread_s: float = 0.0) -> list[float]:
    async def one(query: str) -> float:
        if spread_s:
            await asyncio.sleep(random.uniform(0, spread_s))
        started = time.perf_counter()
        response = await http.get(f"{url}/api/v1/search?{search_query_string(query, 1)}",
                                  headers={"X-Api-Key": fixtures.OVERSEERR_API_KEY, "Accept": "application/json"})
        response.raise_for_status()
        if not response.json()["results"]:
            raise SystemExit(f"the simulator found nothing for {query!r}")
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(q) for q in queries)))


async def client_round(client: OverseerrClient, queries: list[str]) -> list[float]:
    async def one(query: str) -> float:
        started = time.perf_counter()
        page = await client.search(query, 1)
        if not page.results:
            raise SystemExit(f"OverseerrClient found nothing for {query!r}")
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one(q) for q in queries)))


async def clear_search_cache(redis: aioredis.Redis, prefix: str) -> int:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}search:v1:*", count=1000)]
    if keys:
        await redis.delete(*keys)
    return len(keys)


def drop_redis_keys(url: str, prefix: str) -> None:
    """Every key under this run's own prefix, once the processes using them are stopped."""
    client = redis_sync.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def summary(name: str, values: list[float]) -> tuple[float, float]:
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    print(f"{name:<34} samples={len(values):4d}  p50={ms(p50):7.1f} ms  p95={ms(p95):7.1f} ms  "
          f"min={ms(min(values)):7.1f} ms  max={ms(max(values)):7.1f} ms", flush=True)
    return p50, p95


async def run(args: argparse.Namespace, url: str, sims: Simulators, prefix: str, redis_url: str) -> dict:
    from medianest.db import dispose_engines
    from medianest.pages.search import SearchState
    from medianest.state import SessionState

    cookies = await make_members(args.members, sims.pms_url)
    clients = [SearchClient(url, cookie, SessionState.get_full_name(), SearchState.get_full_name())
               for cookie in cookies]
    redis = aioredis.from_url(redis_url)
    # Idle connections closed before the simulator (uvicorn: 5 s) closes them.
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100,
                                                             keepalive_expiry=2.0))
    overseerr = OverseerrClient(sims.overseerr_url, api_key=fixtures.OVERSEERR_API_KEY, timeout=30)
    samples: dict[str, list[float]] = {k: [] for k in ("uncached", "cached", "direct", "direct_client",
                                                       "serial_uncached", "serial_cached", "serial_direct",
                                                       "floor", "paced_cached", "paced_uncached", "paced_direct")}
    cleared: list[int] = []
    load_before = os.getloadavg()[0]
    try:
        await asyncio.gather(*(c.open_page() for c in clients))
        print(f"{len(clients)} members on /search (signed in: {len({c.user_name for c in clients})} distinct)",
              flush=True)
        for r in range(args.rounds + 1):  # round 0 warms up and is not counted
            n = len(QUERIES)
            queries = [QUERIES[(i + r) % n] for i in range(len(clients))]
            shifted = queries[1:] + queries[:1]  # each member gets what the next one searched
            direct = await http_round(http, sims.overseerr_url, queries)
            via_client = await client_round(overseerr, queries)
            await asyncio.sleep(0.2)
            deleted = await clear_search_cache(redis, prefix)
            uncached = await ui_round(clients, queries)
            await asyncio.sleep(0.2)
            cached = await ui_round(clients, shifted)
            await asyncio.sleep(0.2)
            floor = await asyncio.gather(*(c.set_kind("movie" if r % 2 else "tv") for c in clients))
            await asyncio.sleep(0.2)
            if args.spread_ms:
                paced_direct = await http_round(http, sims.overseerr_url, queries, args.spread_ms / 1000)
                await clear_search_cache(redis, prefix)
                paced_uncached = await ui_round(clients, queries, args.spread_ms / 1000)
                paced_cached = await ui_round(clients, shifted, args.spread_ms / 1000)
                await asyncio.sleep(0.2)
            if r == 0:
                continue
            samples["floor"] += floor
            if args.spread_ms:
                samples["paced_uncached"] += paced_uncached
                samples["paced_cached"] += paced_cached
                samples["paced_direct"] += paced_direct
            cleared.append(deleted)
            samples["direct"] += direct
            samples["direct_client"] += via_client
            samples["uncached"] += uncached
            samples["cached"] += cached
        load_during = os.getloadavg()[0]
        # Diagnostic: one member at a time (no concurrency), to tell per-search cost from queueing.
        one = clients[0]
        for query in QUERIES:
            samples["serial_direct"] += await http_round(http, sims.overseerr_url, [query])
        await clear_search_cache(redis, prefix)
        for query in QUERIES:
            samples["serial_uncached"] += await ui_round([one], [query])
        for query in QUERIES[1:] + QUERIES[:1]:
            samples["serial_cached"] += await ui_round([one], [query])
    finally:
        await asyncio.gather(*(c.client.disconnect() for c in clients), return_exceptions=True)
        await http.aclose()
        await redis.aclose()
        await dispose_engines()
    print(f"search cache entries deleted before each counted uncached round: {cleared}")
    u50, u95 = summary("UI path, uncached (set_query→delta)", samples["uncached"])
    c50, c95 = summary("UI path, cached (set_query→delta)", samples["cached"])
    d50, d95 = summary("direct httpx GET to the simulator", samples["direct"])
    k50, k95 = summary("direct OverseerrClient.search", samples["direct_client"])
    print(f"uncached overhead ratio (UI p50 / direct httpx p50): {u50 / d50:.3f}   p95 ratio: {u95 / d95:.3f}")
    print(f"  against OverseerrClient.search: p50 ratio {u50 / k50:.3f}   p95 ratio {u95 / k95:.3f}")
    f50, f95 = summary("floor: set_kind (session check only)", samples["floor"])
    if args.spread_ms:
        print(f"members searching at random moments within {args.spread_ms} ms (not all at once):")
        pu50, pu95 = summary("  UI path, uncached", samples["paced_uncached"])
        pc50, pc95 = summary("  UI path, cached", samples["paced_cached"])
        pd50, _ = summary("  direct httpx GET", samples["paced_direct"])
        print(f"  uncached overhead ratio (p50 / direct httpx p50, same arrivals): {pu50 / pd50:.3f}")
    print("one member at a time (diagnostic, 20 searches each):")
    s_u50, _ = summary("  UI path, uncached", samples["serial_uncached"])
    s_c50, _ = summary("  UI path, cached", samples["serial_cached"])
    s_d50, _ = summary("  direct httpx GET", samples["serial_direct"])
    print(f"  uncached p50 ratio without concurrency: {s_u50 / s_d50:.3f}")
    print(f"1-minute load average: {load_before:.2f} before the rounds, {load_during:.2f} after them "
          f"({os.cpu_count()} CPUs; everything, including these clients, shares them)")
    print(f"targets: cached p95 {ms(c95)} ms (< 50: {'met' if c95 < 0.050 else 'MISSED'}), "
          f"uncached overhead ratio {u50 / d50:.3f} (< 1.2: {'met' if u50 / d50 < 1.2 else 'MISSED'})")
    return {"cached_p95_ms": ms(c95), "uncached_overhead_ratio": round(u50 / d50, 3),
            "cached_p50_ms": ms(c50), "uncached_p50_ms": ms(u50), "uncached_p95_ms": ms(u95),
            "direct_p50_ms": ms(d50), "direct_p95_ms": ms(d95), "uncached_overhead_ratio_p95": round(u95 / d95, 3),
            "direct_client_p50_ms": ms(k50), "direct_client_p95_ms": ms(k95), "members": len(clients),
            "samples_per_phase": len(samples["cached"]), "search_latency_ms": args.latency_ms,
            "serial_cached_p50_ms": ms(s_c50), "serial_uncached_p50_ms": ms(s_u50), "serial_direct_p50_ms": ms(s_d50),
            "load_avg_1m": round(load_during, 2), "floor_p50_ms": ms(f50), "floor_p95_ms": ms(f95),
            **({"spread_ms": args.spread_ms, "paced_cached_p50_ms": ms(pc50), "paced_cached_p95_ms": ms(pc95),
                "paced_uncached_p50_ms": ms(pu50), "paced_direct_p50_ms": ms(pd50),
                "paced_uncached_overhead_ratio": round(pu50 / pd50, 3)}
               if args.spread_ms else {}),
            "web_workers": int(os.environ.get("BENCH_WEB_WORKERS", "2"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20, help="concurrent signed-in members (default 20)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="counted rounds; each member searches once per phase per round (default 5)")
    parser.add_argument("--latency-ms", type=int, default=150,
                        help="latency added to the Overseerr simulator's /api/v1/search (default 150)")
    parser.add_argument("--spread-ms", type=int, default=1000,
                        help="also run rounds where each member searches at a random moment within this window "
                             "(0 turns them off; default 1000)")
    args = parser.parse_args()
    if args.members < 1 or args.rounds < 1:
        parser.error("--members and --rounds must be at least 1")

    stack = Stack()
    with Simulators(stack.tmp / "simulators.log") as sims:
        faults = sims.set_search_latency(args.latency_ms)
        print(f"Overseerr simulator {sims.overseerr_url}: POST /__sim__/faults -> {json.dumps(faults)}", flush=True)
        stack.env.update(simulated_overseerr_env(sims.overseerr_url))
        stack.env.update({"PLEX_TV_URL": sims.plex_tv_url, "PLEX_AUTH_URL": f"{sims.plex_tv_url}/auth"})
        if not stack.env.get("NPM_CONFIG_REGISTRY"):
            registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                                      timeout=20).stdout.strip()
            if registry:
                stack.env["NPM_CONFIG_REGISTRY"] = registry
        started = time.monotonic()
        try:
            stack.__enter__()
        except BaseException:
            stack.__exit__(None, None, None)
            raise
        try:
            print(f"MediaNest (reflex run --env prod, {stack.env['GRANIAN_WORKERS']} Granian workers) up at "
                  f"{stack.url} after {time.monotonic() - started:.1f} s; database {stack.db_name}, Redis key prefix "
                  f"{stack.env['REDIS_KEY_PREFIX']}; logs in {stack.tmp}", flush=True)
            result = asyncio.run(run(args, stack.url, sims, stack.env["REDIS_KEY_PREFIX"], stack.env["REDIS_URL"]))
        finally:
            stack.__exit__(None, None, None)
            drop_redis_keys(stack.env["REDIS_URL"], stack.env["REDIS_KEY_PREFIX"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
