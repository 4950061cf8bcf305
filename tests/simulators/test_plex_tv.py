"""The plex.tv simulator over real HTTP: pins, account, resources, users, hooks, faults."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from medianest.simulators import fixtures
from medianest.simulators.plex import SimulatorHandle

from .conftest import ALICE_TOKEN, CLIENT_ID

HOUSEHOLD = fixtures.HOUSEHOLD_MACHINE_ID


def _create_pin(client: httpx.Client, strong: bool = True) -> dict:
    response = client.post("/api/v2/pins", params={"strong": "true"} if strong else None)
    assert response.status_code == 201, response.text
    return response.json()


def _resources(client: httpx.Client, token: str) -> list[dict]:
    response = client.get("/api/v2/resources", params={"includeHttps": 1, "includeRelay": 1},
                          headers={"X-Plex-Token": token})
    assert response.status_code == 200, response.text
    return response.json()


# ---- pins ---------------------------------------------------------------------------


def test_strong_pin_is_created_with_25_char_code_and_1800s_lifetime(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv)
    assert len(pin["code"]) == 25 and pin["code"].isalnum()
    assert isinstance(pin["id"], int)
    assert pin["clientIdentifier"] == CLIENT_ID
    assert pin["product"] == "MediaNest"
    assert pin["authToken"] is None
    assert 1795 <= pin["expiresIn"] <= 1800
    assert pin["createdAt"].endswith("Z") and pin["expiresAt"].endswith("Z")
    assert pin["qr"].endswith(pin["code"])


def test_short_pin_has_4_char_code_and_900s_lifetime(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv, strong=False)
    assert len(pin["code"]) == 4
    assert 895 <= pin["expiresIn"] <= 900


def test_pin_without_client_identifier_is_400(simulators: SimulatorHandle) -> None:
    response = httpx.post(f"{simulators.plex_tv_url}/api/v2/pins?strong=true",
                          headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": 1000, "message": "X-Plex-Client-Identifier is missing",
                                           "status": 400}]}
    # Plex accepts every X-Plex-* header as a query parameter as well.
    response = httpx.post(f"{simulators.plex_tv_url}/api/v2/pins",
                          params={"strong": "true", "X-Plex-Client-Identifier": "via-query"},
                          headers={"Accept": "application/json"})
    assert response.status_code == 201
    assert response.json()["clientIdentifier"] == "via-query"


def test_pin_poll_returns_token_only_after_approval(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv)
    polled = plex_tv.get(f"/api/v2/pins/{pin['id']}")
    assert polled.status_code == 200
    assert polled.json()["authToken"] is None

    approved = plex_tv.post(f"/__sim__/pins/{pin['id']}/approve", json={"user": "alice"})
    assert approved.status_code == 200

    polled = plex_tv.get(f"/api/v2/pins/{pin['id']}")
    assert polled.json()["authToken"] == ALICE_TOKEN
    assert polled.json()["code"] == pin["code"]


def test_pin_approval_by_code_and_unknown_user(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv)
    unknown = plex_tv.post(f"/__sim__/pins/by-code/{pin['code']}/approve", json={"user": "nobody"})
    assert unknown.status_code == 404
    assert "nobody" in unknown.json()["error"]

    ok = plex_tv.post(f"/__sim__/pins/by-code/{pin['code']}/approve", json={"user": "bob"})
    assert ok.status_code == 200
    assert plex_tv.get(f"/api/v2/pins/{pin['id']}").json()["authToken"] == "sim-bob-token"
    assert plex_tv.post("/__sim__/pins/by-code/nosuchcode/approve", json={"user": "bob"}).status_code == 404


def test_unknown_pin_is_404_with_code_1020(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/api/v2/pins/12345")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 1020


def test_pin_polled_by_another_client_is_404(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv)
    response = plex_tv.get(f"/api/v2/pins/{pin['id']}", headers={"X-Plex-Client-Identifier": "someone-else"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 1020


def test_pin_counts_down_and_expires(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    pin = _create_pin(plex_tv)
    simulators.sim.advance_clock(600)
    assert 1195 <= plex_tv.get(f"/api/v2/pins/{pin['id']}").json()["expiresIn"] <= 1200
    simulators.sim.advance_clock(1201)
    expired = plex_tv.get(f"/api/v2/pins/{pin['id']}")
    assert expired.status_code == 404
    assert expired.json()["errors"][0]["code"] == 1020
    # An expired pin cannot be approved any more either.
    assert plex_tv.post(f"/__sim__/pins/{pin['id']}/approve", json={"user": "alice"}).status_code == 404


def test_auto_approve_hook(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    assert plex_tv.post("/__sim__/auto-approve", json={"user": "ghost"}).status_code == 404
    assert plex_tv.post("/__sim__/auto-approve", json={"user": "carol", "after_seconds": 0}).status_code == 200
    pin = _create_pin(plex_tv)
    assert plex_tv.get(f"/api/v2/pins/{pin['id']}").json()["authToken"] == "sim-carol-token"

    plex_tv.post("/__sim__/auto-approve", json={"user": "carol", "after_seconds": 30})
    delayed = _create_pin(plex_tv)
    assert plex_tv.get(f"/api/v2/pins/{delayed['id']}").json()["authToken"] is None
    simulators.sim.advance_clock(31)
    assert plex_tv.get(f"/api/v2/pins/{delayed['id']}").json()["authToken"] == "sim-carol-token"

    plex_tv.post("/__sim__/auto-approve", json={"user": None})
    manual = _create_pin(plex_tv)
    simulators.sim.advance_clock(60)
    assert plex_tv.get(f"/api/v2/pins/{manual['id']}").json()["authToken"] is None


# ---- account ------------------------------------------------------------------------


def test_user_and_account_json(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    user = plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN})
    assert user.status_code == 200
    data = user.json()
    assert data["id"] == 1001 and data["username"] == "alice" and data["email"] == "alice@example.com"
    assert data["uuid"] == "1454e41e93c2571c" and data["authToken"] == ALICE_TOKEN
    assert data["thumb"].startswith(f"{simulators.plex_tv_url}/users/1454e41e93c2571c/avatar")

    wrapped = plex_tv.get("/users/account.json", params={"X-Plex-Token": ALICE_TOKEN})
    assert wrapped.status_code == 200
    assert wrapped.json()["user"]["id"] == data["id"]
    assert wrapped.json()["user"]["username"] == "alice"

    avatar = httpx.get(data["thumb"])
    assert avatar.status_code == 200
    assert avatar.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in avatar.text


def test_bad_token_is_401(plex_tv: httpx.Client) -> None:
    for path in ("/api/v2/user", "/users/account.json", "/api/v2/resources", "/api/v2/ping"):
        response = plex_tv.get(path, headers={"X-Plex-Token": "wrong"})
        assert response.status_code == 401, path
        assert response.json() == {"errors": [{"code": 1001, "message": "User could not be authenticated",
                                               "status": 401}]}
    xml = plex_tv.get("/api/v2/user", headers={"Accept": "application/xml"})
    assert xml.status_code == 401
    assert ET.fromstring(xml.content).find("error").get("code") == "1001"


def test_ping(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN})
    assert response.json() == {"pong": True}


def test_json_only_when_asked_otherwise_xml(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN, "Accept": "*/*"})
    assert response.status_code == 200
    assert "xml" in response.headers["content-type"]
    root = ET.fromstring(response.content)
    assert root.tag == "user"
    assert root.get("username") == "alice" and root.get("id") == "1001"
    assert root.find("subscription") is not None and root.find("profile") is not None

    pin = plex_tv.post("/api/v2/pins", params={"strong": "true"}, headers={"Accept": "application/xml"})
    assert pin.status_code == 201
    assert ET.fromstring(pin.content).get("code")


def test_strict_mode_rejects_non_json_accept(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    simulators.sim.strict = True
    try:
        response = plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN, "Accept": "*/*"})
        assert response.status_code == 406
        assert plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200
    finally:
        simulators.sim.strict = False


# ---- resources and users ------------------------------------------------------------


def test_resources_for_owner(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    devices = _resources(plex_tv, ALICE_TOKEN)
    by_name = {d["name"]: d for d in devices}
    household = by_name["Household"]
    assert household["clientIdentifier"] == HOUSEHOLD
    assert household["provides"] == "server"
    assert household["owned"] is True and household["ownerId"] is None and household["sourceTitle"] is None
    assert household["accessToken"] == ALICE_TOKEN
    assert {c["uri"] for c in household["connections"]} == {simulators.pms_url}
    assert {c["local"] for c in household["connections"]} == {True, False}
    laptop = by_name["Alice's Laptop"]
    assert laptop["owned"] is True and laptop["clientIdentifier"] == fixtures.LAPTOP_MACHINE_ID
    players = [d for d in devices if "server" not in d["provides"]]
    assert [p["provides"] for p in players] == ["client,player,pubsub-player"]
    # The connection really reaches the household PMS with the given token.
    identity = httpx.get(f"{household['connections'][0]['uri']}/identity", headers={"Accept": "application/json"})
    assert identity.json()["MediaContainer"]["machineIdentifier"] == HOUSEHOLD


def test_resources_for_shared_user_and_stranger(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    bob = _resources(plex_tv, "sim-bob-token")
    assert len(bob) == 1
    shared = bob[0]
    assert shared["clientIdentifier"] == HOUSEHOLD
    assert shared["owned"] is False and shared["ownerId"] == 1001 and shared["sourceTitle"] == "alice"
    assert shared["accessToken"] == "sim-bob-household-token"
    ok = httpx.get(f"{simulators.pms_url}/library/sections", headers={"X-Plex-Token": shared["accessToken"]})
    assert ok.status_code == 200

    assert _resources(plex_tv, "sim-mallory-token") == []


def test_legacy_xml_resources(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/api/resources", params={"includeHttps": 1}, headers={"X-Plex-Token": ALICE_TOKEN})
    root = ET.fromstring(response.content)
    household = next(d for d in root.iter("Device") if d.get("clientIdentifier") == HOUSEHOLD)
    assert household.get("owned") == "1"
    assert household.find("Connection").get("uri").startswith("http://127.0.0.1:")


def test_api_users_lists_friends_with_household_server(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/api/users", headers={"X-Plex-Token": ALICE_TOKEN})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "MediaContainer"
    users = {u.get("username"): u for u in root.findall("User")}
    assert set(users) == {"bob", "carol"}
    assert users["bob"].get("id") == "1002" and users["bob"].get("email") == "bob@example.com"
    server = users["bob"].find("Server")
    assert server.get("machineIdentifier") == HOUSEHOLD and server.get("name") == "Household"
    assert server.get("owned") == "0"
    # A token that owns nothing has no friends; a bad token is rejected.
    assert ET.fromstring(plex_tv.get("/api/users", headers={"X-Plex-Token": "sim-bob-token"}).content
                         ).findall("User") == []
    assert plex_tv.get("/api/users", headers={"X-Plex-Token": "nope"}).status_code == 401


def test_account_and_share_hooks(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    created = plex_tv.post("/__sim__/accounts", json={"username": "dave"})
    assert created.status_code == 201
    dave = created.json()
    assert dave["id"] >= fixtures.FIRST_DYNAMIC_ACCOUNT_ID and dave["email"] == "dave@example.com"
    assert plex_tv.post("/__sim__/accounts", json={"username": "dave"}).status_code == 409
    assert _resources(plex_tv, dave["authToken"]) == []

    share = plex_tv.post("/__sim__/shares", json={"user": "dave"})
    assert share.status_code == 200
    token = share.json()["accessToken"]
    assert [d["accessToken"] for d in _resources(plex_tv, dave["authToken"])] == [token]
    users = ET.fromstring(plex_tv.get("/api/users", headers={"X-Plex-Token": ALICE_TOKEN}).content)
    assert "dave" in {u.get("username") for u in users.findall("User")}
    assert httpx.get(f"{simulators.pms_url}/identity").status_code == 200
    assert httpx.get(f"{simulators.pms_url}/library/sections", headers={"X-Plex-Token": token}).status_code == 200

    assert plex_tv.delete("/__sim__/shares/dave").status_code == 200
    assert _resources(plex_tv, dave["authToken"]) == []
    assert httpx.get(f"{simulators.pms_url}/library/sections", headers={"X-Plex-Token": token}).status_code == 401
    assert plex_tv.delete("/__sim__/shares/dave").status_code == 404
    assert plex_tv.post("/__sim__/shares", json={"user": "ghost"}).status_code == 404


def test_state_and_reset_hooks(plex_tv: httpx.Client) -> None:
    plex_tv.post("/__sim__/accounts", json={"username": "erin", "email": "erin@example.org"})
    state = plex_tv.get("/__sim__/state").json()
    assert state["server"]["machineIdentifier"] == HOUSEHOLD
    assert {s["user"] for s in state["shares"]} == {"bob", "carol"}
    assert "erin" in {a["username"] for a in state["accounts"]}

    assert plex_tv.post("/__sim__/reset").status_code == 200
    state = plex_tv.get("/__sim__/state").json()
    assert {a["username"] for a in state["accounts"]} == {"alice", "bob", "carol", "mallory"}


# ---- auth page ----------------------------------------------------------------------


def test_auth_page_offers_one_button_per_account(plex_tv: httpx.Client) -> None:
    response = plex_tv.get("/auth", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for username, title in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"), ("mallory", "Mallory")):
        assert f'id="approve-{username}"' in page
        assert f"Continue as {title}" in page
    assert 'id="deny"' in page
    assert "Sign in to Plex to continue to" in page
    assert "You can close this window now" in page
    assert "/__sim__/pins/by-code/" in page and "forwardUrl" in page


def test_pin_lookup_by_code_used_by_auth_page(plex_tv: httpx.Client) -> None:
    pin = _create_pin(plex_tv)
    assert plex_tv.get(f"/__sim__/pins/by-code/{pin['code']}").json()["id"] == pin["id"]
    assert plex_tv.get("/__sim__/pins/by-code/unknown").status_code == 404
    assert plex_tv.post(f"/__sim__/pins/by-code/{pin['code']}/deny").status_code == 200
    assert plex_tv.get(f"/api/v2/pins/{pin['id']}").json()["authToken"] is None


# ---- faults -------------------------------------------------------------------------


def test_fault_latency(plex_tv: httpx.Client) -> None:
    assert plex_tv.post("/__sim__/faults", json={"latency_ms": 300}).status_code == 200
    started = time.monotonic()
    assert plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200
    assert time.monotonic() - started >= 0.3
    plex_tv.delete("/__sim__/faults")
    started = time.monotonic()
    plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN})
    assert time.monotonic() - started < 0.3


def test_clearing_the_faults_ends_the_latency_of_a_waiting_request(plex_tv: httpx.Client,
                                                                    simulators: SimulatorHandle) -> None:
    plex_tv.post("/__sim__/faults", json={"latency_ms": 5000, "status": 503})
    box: dict = {}

    def call() -> None:
        started = time.monotonic()
        box["status"] = plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code
        box["took"] = time.monotonic() - started

    waiting = threading.Thread(target=call)
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive()  # still delayed
    simulators.sim.clear_faults()
    waiting.join(5)
    # Served at once, and normally: the 503 went with the faults.
    assert box["status"] == 200 and box["took"] < 2.0, box


def test_a_new_setting_does_not_end_the_latency_of_a_waiting_request(plex_tv: httpx.Client) -> None:
    plex_tv.post("/__sim__/faults", json={"latency_ms": 800})
    box: dict = {}

    def call() -> None:
        started = time.monotonic()
        plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN})
        box["took"] = time.monotonic() - started

    waiting = threading.Thread(target=call)
    waiting.start()
    time.sleep(0.2)
    plex_tv.post("/__sim__/faults", json={"status": 500, "path_prefix": "/api/v2/user"})
    waiting.join(5)
    plex_tv.delete("/__sim__/faults")
    assert box["took"] >= 0.8


def test_fault_status_with_prefix_and_times(plex_tv: httpx.Client) -> None:
    plex_tv.post("/__sim__/faults", json={"status": 500, "path_prefix": "/api/v2/user", "times": 2})
    for _ in range(2):
        failed = plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN})
        assert failed.status_code == 500
        assert failed.json()["errors"][0]["status"] == 500
    # Other paths were never affected, and the budget of two is used up now.
    assert plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200
    assert plex_tv.get("/api/v2/user", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200
    assert plex_tv.get("/__sim__/faults").json()["status"] is None


def test_fault_outage_hangs_until_cleared(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    plex_tv.post("/__sim__/faults", json={"outage": True})
    with pytest.raises(httpx.ReadTimeout):
        plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}, timeout=0.3)
    # The control routes stay reachable during the outage.
    assert plex_tv.get("/__sim__/state").status_code == 200
    assert plex_tv.delete("/__sim__/faults").status_code == 200
    assert plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200


def test_fault_python_api_and_validation(plex_tv: httpx.Client, simulators: SimulatorHandle) -> None:
    simulators.sim.set_faults("plex_tv", status=503)
    assert plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 503
    # Faults are per app: the PMS is unaffected.
    assert httpx.get(f"{simulators.pms_url}/identity").status_code == 200
    simulators.sim.clear_faults()
    assert plex_tv.get("/api/v2/ping", headers={"X-Plex-Token": ALICE_TOKEN}).status_code == 200
    assert plex_tv.post("/__sim__/faults", json={"latency_ms": -1}).status_code == 400
    assert plex_tv.post("/__sim__/faults", json={"bogus": 1}).status_code == 400
