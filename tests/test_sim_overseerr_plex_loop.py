"""The Overseerr simulator wired to the PMS simulator (integrations.md §6 "request → available"
loop), its auto-progress timers and its webhook agent, all over real HTTP: requests through
``OverseerrClient``, the library through ``PlexServerClient``, webhooks into a real receiver."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pybreaker
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medianest.errors import IntegrationRejected
from medianest.integrations.overseerr import OverseerrClient
from medianest.integrations.plex import PlexServerClient, watch_url
from medianest.simulators import fixtures
from medianest.simulators.overseerr import FLAVOURS, OverseerrHandle, serve_overseerr_in_thread
from medianest.simulators.plex import SimulatorHandle, _bind, _make_server
from medianest.simulators.threads import ServerThread

KEY = fixtures.OVERSEERR_API_KEY
ALICE_TOKEN = "sim-alice-token"
HOUSEHOLD = fixtures.HOUSEHOLD_MACHINE_ID
BOB = 2
DUNE, OPPENHEIMER, SEVERANCE, LAST_OF_US, BREAKING_BAD = 438631, 872585, 95396, 100088, 1396
BREAKING_BAD_RATING_KEY = str(fixtures.SHOW_RATING_KEY_START)


# --------------------------------------------------------------------------------------
# A real webhook receiver on 127.0.0.1
# --------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """Records every POST it gets; answers ``status``."""

    url: str = ""
    status: int = 200
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                self.calls.append({"path": request.url.path, "authorization": request.headers.get("authorization"),
                                   "content_type": request.headers.get("content-type"), "json": body})
            return JSONResponse({"ok": self.status < 300}, status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c["json"] for c in self.calls]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
        self.status = 200


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()
    sock = _bind("127.0.0.1", 0)
    recorder.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _make_server(recorder.app(), "warning")

    def request_exit() -> None:
        server.should_exit = True

    runner = ServerThread("webhook-receiver", lambda: server.serve(sockets=[sock]), started=lambda: server.started,
                          request_exit=request_exit)
    yield recorder
    runner.stop()


# --------------------------------------------------------------------------------------
# Simulators and clients
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attached(plex_sims: SimulatorHandle) -> Iterator[OverseerrHandle]:
    """An Overseerr simulator whose Plex scans write to the session's PMS simulator."""
    handle = serve_overseerr_in_thread("127.0.0.1", 0, plex=plex_sims.sim)
    yield handle
    handle.stop()


@pytest.fixture
def overseerr(attached: OverseerrHandle, plex: SimulatorHandle, receiver: Receiver) -> Iterator[OverseerrHandle]:
    """Both simulators at their fixtures (``plex`` resets the PMS one), the receiver emptied."""
    attached.sim.reset()
    receiver.reset()
    yield attached
    attached.sim.reset()  # stops timers and webhooks a test turned on
    attached.sim.clear_faults()


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest, overseerr: OverseerrHandle) -> str:
    overseerr.sim.set_flavour(request.param)
    return str(request.param)


def _overseerr_client(handle: OverseerrHandle) -> OverseerrClient:
    return OverseerrClient(handle.url, api_key=KEY, breaker=pybreaker.CircuitBreaker(
        fail_max=100, exclude=[IntegrationRejected]))


def _pms_client(plex: SimulatorHandle) -> PlexServerClient:
    breaker = pybreaker.CircuitBreaker(fail_max=100, exclude=[IntegrationRejected])
    return PlexServerClient(plex.pms_url, token=ALICE_TOKEN, client_id="medianest-test", breaker=breaker)


def _hook(handle: OverseerrHandle, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{handle.url}/__sim__/{path}", timeout=5, **kwargs)


def _pms_json(plex: SimulatorHandle, path: str) -> dict[str, Any]:
    response = httpx.get(f"{plex.pms_url}{path}", headers={"Accept": "application/json", "X-Plex-Token": ALICE_TOKEN})
    response.raise_for_status()
    return response.json()["MediaContainer"]


async def _eventually(check: Callable[[], Any], *, timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


def _request_status(handle: OverseerrHandle, request_id: int) -> int:
    return next(r["status"] for r in handle.sim.state()["requests"] if r["id"] == request_id)


def _media(handle: OverseerrHandle, tmdb: int) -> dict[str, Any]:
    """The simulator's Media row of a title (``{}`` when it has none)."""
    return next((m for m in handle.sim.state()["media"] if m["tmdbId"] == tmdb), {})


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


async def test_member_movie_request_ends_up_in_the_plex_library(overseerr: OverseerrHandle, plex: SimulatorHandle,
                                                                flavour: str) -> None:
    client, pms = _overseerr_client(overseerr), _pms_client(plex)
    assert await pms.search("Dune") == ()
    request = await client.create_request("movie", DUNE, as_user=BOB)
    assert (request.status, request.media_status) == ("pending", "pending")
    approved = await client.approve(request.id)
    # §3.15: the approval answers with the media still PENDING; PROCESSING follows a moment later.
    assert (approved.status, approved.media_status) == ("approved", "pending")
    await _eventually(lambda: _media(overseerr, DUNE)["status"] == 3)

    done = _hook(overseerr, f"requests/{request.id}/available").json()
    rating_key = done["media"]["ratingKey"]
    assert done["media"]["status"] == 5
    # Seerr 3.1 sends plexUrl null and the link in mediaUrl (§3.13); the client reads either.
    assert done["media"]["mediaUrl" if flavour == "seerr" else "plexUrl"] == watch_url(HOUSEHOLD, rating_key)
    assert done["media"]["plexUrl"] == (None if flavour == "seerr" else watch_url(HOUSEHOLD, rating_key))
    assert (await client.request(request.id)).plex_url == watch_url(HOUSEHOLD, rating_key)
    details = await client.movie(DUNE)
    assert (details.status, details.rating_key) == ("available", rating_key)
    final = await client.request(request.id)
    assert final.status == ("completed" if flavour == "seerr" else "approved")

    found = await pms.search("Dune")
    assert [(i.type, i.title, i.year, i.rating_key, i.section_key) for i in found] == [
        ("movie", "Dune", 2021, rating_key, "1")]
    assert (await pms.recently_added(size=5))[0].rating_key == rating_key
    assert (await pms.section_items("1", size=1)).total == len(fixtures.MOVIES) + 1
    metadata = _pms_json(plex, f"/library/metadata/{rating_key}")["Metadata"][0]
    assert {g["id"] for g in metadata["Guid"]} == {"tmdb://438631"}
    assert metadata["Media"][0]["Part"][0]["file"].endswith("/Dune (2021)/Dune (2021).mkv")
    assert httpx.get(f"{overseerr.url}/__sim__/state").json()["plex"] == {"attached": True,
                                                                         "machineIdentifier": HOUSEHOLD}


async def test_tv_request_adds_exactly_the_chosen_seasons(overseerr: OverseerrHandle, plex: SimulatorHandle) -> None:
    client, pms = _overseerr_client(overseerr), _pms_client(plex)
    request = await client.create_request("tv", SEVERANCE, [2], as_user=BOB)
    await client.approve(request.id)
    done = _hook(overseerr, f"media/tv/{SEVERANCE}/available").json()
    assert [r["id"] for r in done["requests"]] == [request.id]
    assert done["media"]["status"] == 4  # one of two TMDB seasons
    show_key = done["media"]["ratingKey"]
    [show] = await pms.search("Severance")
    assert (show.type, show.rating_key, show.subtitle, show.year) == ("show", show_key, "1 season", 2022)
    seasons = _pms_json(plex, f"/library/metadata/{show_key}/children")["Metadata"]
    assert [(s["index"], s["leafCount"] >= 1) for s in seasons] == [(2, True)]
    details = await client.tv(SEVERANCE)
    assert details.rating_key == show_key and details.status == "partially_available"
    assert {s.season_number: s.status for s in details.seasons} == {1: "unknown", 2: "available"}

    # A show Plex already holds keeps its ratingKey and gains the new season.
    more = await client.create_request("tv", BREAKING_BAD, [4], as_user=BOB)
    await client.approve(more.id)
    extended = _hook(overseerr, f"requests/{more.id}/available").json()
    assert extended["media"]["ratingKey"] == BREAKING_BAD_RATING_KEY
    indexes = [s["index"] for s in _pms_json(plex, f"/library/metadata/{BREAKING_BAD_RATING_KEY}/children")["Metadata"]]
    assert indexes == [1, 2, 4]
    newest = (await pms.recently_added(size=1))[0]
    assert (newest.type, newest.subtitle) == ("episode", "Breaking Bad · S04E01")
    assert {s.season_number: s.status for s in (await client.tv(BREAKING_BAD)).seasons} == {
        1: "available", 2: "available", 3: "unknown", 4: "available", 5: "unknown"}


async def test_media_hook_without_request_makes_the_title_available(overseerr: OverseerrHandle,
                                                                    plex: SimulatorHandle) -> None:
    client, pms = _overseerr_client(overseerr), _pms_client(plex)
    first = _hook(overseerr, f"media/movie/{OPPENHEIMER}/available")
    assert first.status_code == 200 and first.json()["requests"] == []
    rating_key = first.json()["media"]["ratingKey"]
    again = _hook(overseerr, f"media/movie/{OPPENHEIMER}/available").json()
    assert again["media"]["ratingKey"] == rating_key  # the same PMS item, not a second copy
    assert [i.rating_key for i in await pms.search("Oppenheimer")] == [rating_key]
    assert (await client.movie(OPPENHEIMER)).status == "available"
    # A title already in the library keeps its fixture ratingKey.
    heat = _hook(overseerr, "media/movie/949/available").json()
    assert heat["media"]["ratingKey"] == str(fixtures.MOVIE_RATING_KEY_START)
    assert len([i for i in await pms.search("Heat") if i.type == "movie"]) == 1
    unknown = _hook(overseerr, "media/movie/1/available")
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert _hook(overseerr, f"media/music/{OPPENHEIMER}/available").status_code == 404


# --------------------------------------------------------------------------------------
# Auto-progress
# --------------------------------------------------------------------------------------


async def test_auto_progress_approves_then_makes_available(overseerr: OverseerrHandle, plex: SimulatorHandle) -> None:
    client, pms = _overseerr_client(overseerr), _pms_client(plex)
    config = _hook(overseerr, "config", json={"auto_approve_after_s": 0.4, "available_after_s": 0.8})
    assert config.status_code == 200
    assert config.json() == {"arr_fail": False, "auto_approve_after_s": 0.4, "available_after_s": 0.8,
                             "webhook_url": None, "webhook_authorization": None}
    started = time.monotonic()
    request = await client.create_request("movie", DUNE, as_user=BOB)
    assert request.status == "pending"
    await _eventually(lambda: _request_status(overseerr, request.id) == 2)
    approved_after = time.monotonic() - started
    assert approved_after >= 0.4
    await _eventually(lambda: _media(overseerr, DUNE)["status"] == 3)  # PENDING, then PROCESSING (§3.15)
    await _eventually(lambda: _media(overseerr, DUNE)["status"] == 5)
    assert time.monotonic() - started >= 1.2
    rating_key = (await client.movie(DUNE)).rating_key
    assert [i.rating_key for i in await pms.search("Dune")] == [rating_key]
    assert (await client.request(request.id)).modified_by_id == 1  # approved as the owner

    # reset() goes back to the constructor's settings: no auto-progress.
    assert _hook(overseerr, "reset").status_code == 200
    assert overseerr.sim.config()["auto_approve_after_s"] is None
    later = await client.create_request("movie", OPPENHEIMER, as_user=BOB)
    await asyncio.sleep(0.6)
    assert _request_status(overseerr, later.id) == 1


async def test_available_timer_alone_leaves_approval_to_the_admin(overseerr: OverseerrHandle) -> None:
    client = _overseerr_client(overseerr)
    _hook(overseerr, "config", json={"available_after_s": 0.2})
    request = await client.create_request("tv", SEVERANCE, [1], as_user=BOB)
    await asyncio.sleep(0.5)
    assert _request_status(overseerr, request.id) == 1  # pending until someone approves
    await client.approve(request.id)
    await _eventually(lambda: _media(overseerr, SEVERANCE)["status"] == 4)
    assert {s["seasonNumber"]: s["status"] for s in _media(overseerr, SEVERANCE)["seasons"]} == {1: 5}


async def test_auto_progress_from_constructor_survives_reset(plex: SimulatorHandle) -> None:
    handle = serve_overseerr_in_thread("127.0.0.1", 0, plex=plex.sim, auto_approve_after_s=0.1,
                                       available_after_s=0.1)
    try:
        client = _overseerr_client(handle)
        handle.sim.reset()
        assert handle.sim.config()["available_after_s"] == 0.1
        request = await client.create_request("movie", DUNE, as_user=BOB)
        await _eventually(lambda: _media(handle, DUNE).get("status") == 5)
        assert _request_status(handle, request.id) == 2
    finally:
        handle.stop()


async def test_config_hook_rejects_bad_values(overseerr: OverseerrHandle) -> None:
    for body in ({"available_after_s": -1}, {"auto_approve_after_s": "soon"}, {"bogus": 1},
                 {"webhook_url": "ftp://example.org/x"}, {"arr_fail": "yes"}, {"webhook_authorization": "a\nb"}):
        response = _hook(overseerr, "config", json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()
    assert overseerr.sim.config() == {"arr_fail": False, "auto_approve_after_s": None, "available_after_s": None,
                                      "webhook_url": None, "webhook_authorization": None}
    assert _hook(overseerr, "config", json={"arr_fail": True}).json()["arr_fail"] is True


# --------------------------------------------------------------------------------------
# Webhook agent
# --------------------------------------------------------------------------------------


def _poster_url(handle: OverseerrHandle, tmdb: int, media_type: str = "movie") -> str:
    detail = httpx.get(f"{handle.url}/api/v1/{media_type}/{tmdb}", headers={"X-Api-Key": KEY}).json()
    return f"{handle.url}/__sim__/tmdb/t/p/w600_and_h900_bestv2{detail['posterPath']}"


async def test_webhooks_for_pending_approved_available_carry_the_authorization(
        overseerr: OverseerrHandle, receiver: Receiver, flavour: str) -> None:
    client = _overseerr_client(overseerr)
    _hook(overseerr, "config", json={"webhook_url": f"{receiver.url}/overseerr", "webhook_authorization": "Bearer s3"})
    request = await client.create_request("movie", DUNE, as_user=BOB)
    await client.approve(request.id)
    _hook(overseerr, f"requests/{request.id}/available")
    assert overseerr.sim.flush_webhooks()

    with receiver.lock:
        calls = list(receiver.calls)
    assert [c["json"]["notification_type"] for c in calls] == ["MEDIA_PENDING", "MEDIA_APPROVED", "MEDIA_AVAILABLE"]
    assert {(c["path"], c["authorization"], c["content_type"]) for c in calls} == {
        ("/overseerr", "Bearer s3", "application/json")}
    pending, approved, available = (c["json"] for c in calls)
    assert pending == {
        "notification_type": "MEDIA_PENDING",
        "event": "New Movie Request",
        "subject": "Dune (2021)",
        "message": "A noble family's heir is sent to the most dangerous planet in the universe.",
        "image": _poster_url(overseerr, DUNE),
        "media": {"media_type": "movie", "tmdbId": "438631", "tvdbId": "", "status": "PENDING",
                  "status4k": "UNKNOWN"},
        "request": {"request_id": str(request.id), "requestedBy_email": "bob@example.com",
                    "requestedBy_username": "bob", "requestedBy_avatar": "https://plex.tv/users/4f34a9075062ff15/avatar",
                    "requestedBy_settings_discordId": "", "requestedBy_settings_telegramChatId": ""},
        "issue": None,
        "comment": None,
        "extra": [],
    }
    # Sent with the approval, before PROCESSING is saved (§3.15).
    assert (approved["event"], approved["media"]["status"]) == ("Movie Request Approved", "PENDING")
    assert (available["event"], available["media"]["status"]) == ("Movie Request Now Available", "AVAILABLE")
    assert available["request"] == pending["request"]
    # The image points at the TMDB stand-in, so it can be fetched offline.
    image = httpx.get(pending["image"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    log = overseerr.sim.state()["webhooks"]
    assert log["url"] == f"{receiver.url}/overseerr" and log["errors"] == [] and log["pending"] == 0
    assert [(s["notification_type"], s["status_code"], s["ok"]) for s in log["sent"]] == [
        ("MEDIA_PENDING", 200, True), ("MEDIA_APPROVED", 200, True), ("MEDIA_AVAILABLE", 200, True)]


async def test_webhooks_for_auto_approved_declined_failed_and_series(overseerr: OverseerrHandle,
                                                                     receiver: Receiver) -> None:
    client = _overseerr_client(overseerr)
    _hook(overseerr, "config", json={"webhook_url": receiver.url})
    admin_key = httpx.post(f"{overseerr.url}/api/v1/request", headers={"X-Api-Key": KEY},
                           json={"mediaType": "movie", "mediaId": OPPENHEIMER, "is4k": False}).json()
    series = await client.create_request("tv", SEVERANCE, [1, 2], as_user=BOB)
    await client.decline(series.id)
    _hook(overseerr, f"requests/{admin_key['id']}/fail")
    again = await client.create_request("tv", LAST_OF_US, [1], as_user=BOB)
    await client.approve(again.id)
    _hook(overseerr, f"requests/{again.id}/available")
    assert overseerr.sim.flush_webhooks()

    with receiver.lock:
        calls = list(receiver.calls)
    assert all(c["authorization"] is None for c in calls)  # no header without a configured value
    got = [(c["json"]["notification_type"], c["json"]["event"], c["json"]["request"]["request_id"]) for c in calls]
    assert got == [
        ("MEDIA_AUTO_APPROVED", "Movie Request Automatically Approved", str(admin_key["id"])),
        ("MEDIA_PENDING", "New Series Request", str(series.id)),
        ("MEDIA_DECLINED", "Series Request Declined", str(series.id)),
        ("MEDIA_FAILED", "Movie Request Failed", str(admin_key["id"])),
        ("MEDIA_PENDING", "New Series Request", str(again.id)),
        ("MEDIA_APPROVED", "Series Request Approved", str(again.id)),
        ("MEDIA_AVAILABLE", "Series Request Now Available", str(again.id)),
    ]
    auto = calls[0]["json"]
    # No Radarr/Sonarr: the media stays PENDING.
    assert auto["request"]["requestedBy_username"] == "alice" and auto["media"]["status"] == "PENDING"
    tv = calls[1]["json"]
    assert tv["media"] == {"media_type": "tv", "tmdbId": str(SEVERANCE), "tvdbId": "371980", "status": "PENDING",
                           "status4k": "UNKNOWN"}
    assert tv["extra"] == [{"name": "Requested Seasons", "value": "1, 2"}]
    assert tv["subject"] == "Severance (2022)"
    available = calls[-1]["json"]
    assert available["media"]["status"] == "PARTIALLY_AVAILABLE"  # season 1 of 2
    assert available["extra"] == [{"name": "Requested Seasons", "value": "1"}]
    for call in calls:  # every template value is a string, as Overseerr's template makes them
        payload = call["json"]
        assert all(isinstance(v, str) for v in payload["media"].values())
        assert all(isinstance(v, str) for v in payload["request"].values())


async def test_arr_failure_sends_approved_then_failed(overseerr: OverseerrHandle, receiver: Receiver) -> None:
    client = _overseerr_client(overseerr)
    _hook(overseerr, "config", json={"webhook_url": receiver.url, "arr_fail": True})
    request = await client.create_request("movie", DUNE, as_user=BOB)
    assert (await client.approve(request.id)).status == "failed"
    assert overseerr.sim.flush_webhooks()
    assert [p["notification_type"] for p in receiver.payloads()] == ["MEDIA_PENDING", "MEDIA_APPROVED", "MEDIA_FAILED"]


async def test_webhook_failures_are_recorded_never_raised(overseerr: OverseerrHandle, receiver: Receiver) -> None:
    client = _overseerr_client(overseerr)
    receiver.status = 500
    _hook(overseerr, "config", json={"webhook_url": receiver.url})
    first = await client.create_request("movie", DUNE, as_user=BOB)
    assert first.status == "pending"  # the API call is unaffected
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    _hook(overseerr, "config", json={"webhook_url": dead})
    second = await client.create_request("movie", OPPENHEIMER, as_user=BOB)
    assert second.status == "pending"
    assert overseerr.sim.flush_webhooks()
    log = overseerr.sim.state()["webhooks"]
    assert [(s["url"], s["status_code"], s["ok"]) for s in log["sent"]] == [(receiver.url, 500, False),
                                                                            (dead, None, False)]
    assert len(log["errors"]) == 2 and "HTTP 500" in log["errors"][0] and "ConnectError" in log["errors"][1]
    assert len(receiver.payloads()) == 1
    _hook(overseerr, "reset")
    assert overseerr.sim.state()["webhooks"] == {"url": None, "sent": [], "errors": [], "pending": 0}
