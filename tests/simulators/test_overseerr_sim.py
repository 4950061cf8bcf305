"""Contract tests of the Overseerr / Seerr simulator over real HTTP (integrations.md §3)."""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Iterator

import httpx
import pytest

from medianest.simulators import fixtures
from medianest.simulators.overseerr import PROCESSING_DELAY_S, OverseerrHandle

KEY = fixtures.OVERSEERR_API_KEY
BOB, CAROL = 2, 3
DUNE, OPPENHEIMER, HEAT, SEVERANCE, BREAKING_BAD = 438631, 872585, 949, 95396, 1396


@pytest.fixture
def overseerr(overseerr_server: OverseerrHandle) -> OverseerrHandle:
    return overseerr_server


@pytest.fixture(params=["overseerr", "seerr"])
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def api(overseerr: OverseerrHandle, flavour: str) -> Iterator[httpx.Client]:
    overseerr.sim.reset()
    with httpx.Client(base_url=overseerr.url, timeout=5, headers={"X-Api-Key": KEY}) as client:
        assert client.post("/__sim__/flavour", json={"flavour": flavour}).status_code == 200
        yield client
    overseerr.sim.clear_faults()


def _request(api: httpx.Client, media_type: str, tmdb: int, *, user: int | None = None, **extra: object
             ) -> httpx.Response:
    headers = {"X-Api-User": str(user)} if user is not None else {}
    return api.post("/api/v1/request", json={"mediaType": media_type, "mediaId": tmdb, "is4k": False, **extra},
                    headers=headers)


def test_status_needs_no_auth_and_reports_flavour_version(overseerr: OverseerrHandle, api: httpx.Client,
                                                          flavour: str) -> None:
    data = httpx.get(f"{overseerr.url}/api/v1/status").json()
    assert data["version"] == fixtures.OVERSEERR_VERSIONS[flavour]
    assert set(data) >= {"commitTag", "updateAvailable", "commitsBehind", "restartRequired"}


def test_auth_missing_key_is_401_wrong_key_or_user_is_403(overseerr: OverseerrHandle, api: httpx.Client) -> None:
    missing = httpx.get(f"{overseerr.url}/api/v1/request")
    assert missing.status_code == 401
    assert missing.json() == {"message": "cookie 'connect.sid' required"}
    wrong = httpx.get(f"{overseerr.url}/api/v1/request", headers={"X-Api-Key": "nope"})
    assert wrong.status_code == 403
    assert wrong.json() == {"status": 403, "error": "You do not have permission to access this endpoint"}
    assert api.get("/api/v1/request", headers={"X-Api-User": "99"}).status_code == 403


def test_search_rejects_reserved_characters_in_raw_query(api: httpx.Client) -> None:
    plus = api.get("/api/v1/search?query=the+heat")
    assert plus.status_code == 400
    assert plus.json()["message"].startswith("Parameter 'query' must be url encoded")
    assert plus.json()["errors"][0]["path"] == ".query.query"
    # httpx's own params= encoding sends '+' for spaces and is refused the same way.
    assert api.get("/api/v1/search", params={"query": "the heat"}).status_code == 400
    assert api.get("/api/v1/search?query=schindler's").status_code == 400
    ok = api.get("/api/v1/search?query=the%20heat")
    assert ok.status_code == 200
    assert [r["title"] for r in ok.json()["results"]] == ["The Heat"]
    assert api.get("/api/v1/search?query=schindler%27s%20list").json()["results"][0]["id"] == 424
    assert api.get("/api/v1/search").status_code == 400


def test_search_results_carry_media_info_only_when_known(api: httpx.Client) -> None:
    data = api.get("/api/v1/search?query=heat").json()
    by_id = {r["id"]: r for r in data["results"]}
    assert data["totalResults"] == 2 and data["page"] == 1 and data["totalPages"] == 1
    assert by_id[HEAT]["mediaType"] == "movie" and by_id[HEAT]["mediaInfo"]["status"] == 5
    assert by_id[HEAT]["mediaInfo"]["ratingKey"] == str(fixtures.MOVIE_RATING_KEY_START)
    assert "mediaInfo" not in by_id[136795]
    show = api.get("/api/v1/search?query=breaking%20bad").json()["results"][0]
    assert show["mediaType"] == "tv" and show["name"] == "Breaking Bad" and "firstAirDate" in show
    assert show["mediaInfo"]["status"] == 4  # 2 of 5 seasons in Plex


def test_movie_and_tv_details_unknown_id_is_500(api: httpx.Client) -> None:
    movie = api.get(f"/api/v1/movie/{HEAT}").json()
    assert movie["title"] == "Heat" and movie["mediaInfo"]["requests"] == []
    tv = api.get(f"/api/v1/tv/{BREAKING_BAD}").json()
    assert tv["numberOfSeasons"] == 5
    assert {s["seasonNumber"]: s["status"] for s in tv["mediaInfo"]["seasons"]} == {1: 5, 2: 5}
    missing = api.get("/api/v1/movie/1")
    assert missing.status_code == 500 and missing.json() == {"message": "Unable to retrieve movie."}
    assert api.get("/api/v1/tv/1").status_code == 500


def test_admin_key_auto_approves_member_request_is_pending(api: httpx.Client) -> None:
    admin = _request(api, "movie", DUNE)
    assert admin.status_code == 201
    # Without Radarr/Sonarr the auto-approved request's media stays PENDING on both servers (§3.13).
    assert admin.json()["status"] == 2 and admin.json()["media"]["status"] == 2
    assert admin.json()["modifiedBy"]["id"] == 1
    time.sleep(PROCESSING_DELAY_S + 0.1)
    assert api.get(f"/api/v1/request/{admin.json()['id']}").json()["media"]["status"] == 2
    member = _request(api, "movie", OPPENHEIMER, user=BOB)
    body = member.json()
    assert member.status_code == 201 and body["status"] == 1 and body["media"]["status"] == 2
    assert body["requestedBy"]["plexId"] == 1002 and body["modifiedBy"] is None
    assert body["type"] == "movie" and body["is4k"] is False and body["seasonCount"] == 0


def test_duplicate_409_unless_is4k_missing(api: httpx.Client) -> None:
    assert _request(api, "movie", DUNE, user=BOB).status_code == 201
    dup = _request(api, "movie", DUNE, user=BOB)
    assert dup.status_code == 409 and dup.json() == {"message": "Request for this media already exists."}
    # §3.15: without is4k the duplicate check matches nothing.
    loose = api.post("/api/v1/request", json={"mediaType": "movie", "mediaId": DUNE})
    assert loose.status_code == 201


def test_quota_and_permission_403(api: httpx.Client, overseerr: OverseerrHandle) -> None:
    assert _request(api, "movie", DUNE, user=CAROL).status_code == 201
    over = _request(api, "movie", OPPENHEIMER, user=CAROL)
    assert over.status_code == 403 and over.json() == {"message": "Movie Quota exceeded."}
    other = _request(api, "movie", OPPENHEIMER, user=BOB, userId=CAROL)
    assert other.status_code == 403
    assert other.json() == {"message": "You do not have permission to modify the request user."}
    overseerr.sim.users[BOB]["permissions"] = 0
    denied = _request(api, "tv", SEVERANCE, user=BOB, seasons=[1])
    assert denied.json() == {"message": "You do not have permission to make series requests."}


def test_tv_seasons_rules(api: httpx.Client) -> None:
    missing = _request(api, "tv", SEVERANCE, user=BOB)
    assert missing.status_code == 500
    first = _request(api, "tv", BREAKING_BAD, user=BOB, seasons="all")
    assert first.status_code == 201
    assert [s["seasonNumber"] for s in first.json()["seasons"]] == [3, 4, 5]
    again = _request(api, "tv", BREAKING_BAD, user=CAROL, seasons=[1, 3])
    assert again.status_code == 202 and again.json() == {"message": "No seasons available to request"}
    assert _request(api, "movie", 1, user=BOB).status_code == 500


def test_state_machine_and_hooks(api: httpx.Client, flavour: str) -> None:
    rid = _request(api, "movie", DUNE, user=BOB).json()["id"]
    approved = api.post(f"/api/v1/request/{rid}/approve").json()
    # §3.15: the approval answers with the media still PENDING; PROCESSING follows a moment later.
    assert approved["status"] == 2 and approved["media"]["status"] == 2 and approved["modifiedBy"]["id"] == 1
    time.sleep(PROCESSING_DELAY_S + 0.1)
    assert api.get(f"/api/v1/request/{rid}").json()["media"]["status"] == 3
    done = api.post(f"/__sim__/requests/{rid}/available").json()
    assert done["media"]["status"] == 5 and done["media"]["ratingKey"]
    assert done["status"] == (5 if flavour == "seerr" else 2)
    rid2 = _request(api, "movie", OPPENHEIMER, user=BOB).json()["id"]
    declined = api.post(f"/__sim__/requests/{rid2}/decline").json()
    assert declined["status"] == 3 and declined["media"]["status"] == 1
    rid3 = _request(api, "movie", 424, user=BOB).json()["id"]
    assert api.post(f"/__sim__/requests/{rid3}/fail").json()["status"] == 4
    assert api.post(f"/__sim__/requests/{rid3}/approve").json()["status"] == 2
    assert api.post("/__sim__/requests/999/approve").status_code == 404
    assert api.post(f"/api/v1/request/{rid}/pending").status_code == 400
    assert api.post(f"/api/v1/request/{rid}/approve", headers={"X-Api-User": str(BOB)}).status_code == 403
    count = api.get("/api/v1/request/count").json()
    assert count["total"] == 3 and count["declined"] == 1 and count["approved"] == (1 if flavour == "seerr" else 2)
    assert ("completed" in count) is (flavour == "seerr")


def test_get_and_delete_single_request(api: httpx.Client) -> None:
    rid = _request(api, "movie", DUNE, user=BOB).json()["id"]
    assert api.get(f"/api/v1/request/{rid}").json()["id"] == rid
    assert api.get(f"/api/v1/request/{rid}", headers={"X-Api-User": str(CAROL)}).status_code == 403
    assert api.get("/api/v1/request/999").json() == {"message": "Request not found."}
    assert api.delete(f"/api/v1/request/{rid}").status_code == 204
    assert api.get(f"/api/v1/request/{rid}").status_code == 404
    assert api.get(f"/api/v1/movie/{DUNE}").json()["mediaInfo"]["status"] == 1
    rid2 = _request(api, "movie", OPPENHEIMER).json()["id"]  # approved by the admin key
    denied = api.delete(f"/api/v1/request/{rid2}", headers={"X-Api-User": str(CAROL)})
    assert denied.status_code == 401


def test_request_listing_paging_filter_sort(api: httpx.Client, flavour: str) -> None:
    ids = [_request(api, "movie", tmdb, user=BOB).json()["id"] for tmdb in (DUNE, OPPENHEIMER, 424, 335984)]
    api.post(f"/api/v1/request/{ids[0]}/approve")
    page1 = api.get("/api/v1/request", params={"take": 3, "skip": 0}).json()
    assert page1["pageInfo"] == {"pages": 2, "pageSize": 3, "results": 4, "page": 1}
    assert [r["id"] for r in page1["results"]] == ids[::-1][:3]
    page2 = api.get("/api/v1/request", params={"take": 3, "skip": 3}).json()
    assert page2["pageInfo"]["page"] == 2 and [r["id"] for r in page2["results"]] == [ids[0]]
    modified = api.get("/api/v1/request", params={"sort": "modified"}).json()["results"]
    assert modified[0]["id"] == ids[0]
    assert api.get("/api/v1/request", params={"filter": "pending"}).json()["pageInfo"]["results"] == 3
    assert [r["id"] for r in api.get("/api/v1/request", params={"filter": "processing"}).json()["results"]] == [ids[0]]
    bad = api.get("/api/v1/request", params={"filter": "foo"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == ".query.filter"
    completed = api.get("/api/v1/request", params={"filter": "completed"})
    assert completed.status_code == (200 if flavour == "seerr" else 400)
    listing = api.get("/api/v1/request").json()
    assert ("serviceErrors" in listing) is (flavour == "seerr")
    # A member sees only their own requests and may not ask for someone else's.
    assert api.get("/api/v1/request", headers={"X-Api-User": str(CAROL)}).json()["pageInfo"]["results"] == 0
    assert api.get("/api/v1/request", params={"requestedBy": BOB},
                   headers={"X-Api-User": str(CAROL)}).status_code == 403


def test_users_listing_and_import_from_plex(api: httpx.Client, overseerr: OverseerrHandle) -> None:
    data = api.get("/api/v1/user", params={"take": 2}).json()
    assert data["pageInfo"] == {"pages": 2, "pageSize": 2, "results": 3, "page": 1}
    assert [(u["id"], u["plexId"], u["displayName"]) for u in data["results"]] == [(1, 1001, "alice"), (2, 1002, "bob")]
    member_view = api.get("/api/v1/user", headers={"X-Api-User": str(BOB)}).json()["results"][0]
    assert "plexId" not in member_view and "email" not in member_view
    assert api.post("/api/v1/user/import-from-plex", json={}).json() == []
    overseerr.sim.remove_user(CAROL)
    assert api.post("/api/v1/user/import-from-plex", headers={"X-Api-User": str(BOB)}, json={}).status_code == 403
    none = api.post("/api/v1/user/import-from-plex", json={"plexIds": ["1004"]})
    assert none.status_code == 201 and none.json() == []
    created = api.post("/api/v1/user/import-from-plex", json={"plexIds": ["1003"]}).json()
    assert [(u["id"], u["plexId"], u["permissions"]) for u in created] == [(4, 1003, 32)]


def test_faults_and_state_and_reset(api: httpx.Client, overseerr: OverseerrHandle) -> None:
    assert api.post("/__sim__/faults", json={"status": 503, "path_prefix": "/api/v1/search"}).status_code == 200
    assert api.get("/api/v1/search?query=heat").status_code == 503
    assert api.get("/api/v1/status").status_code == 200
    api.delete("/__sim__/faults")
    assert api.get("/api/v1/search?query=heat").status_code == 200
    _request(api, "movie", DUNE, user=BOB)
    assert len(api.get("/__sim__/state").json()["requests"]) == 1
    assert api.post("/__sim__/flavour", json={"flavour": "jellyfin"}).status_code == 400
    assert api.post("/__sim__/reset").status_code == 200
    assert api.get("/__sim__/state").json()["requests"] == []


def test_every_title_has_a_poster_the_tmdb_stand_in_serves(overseerr: OverseerrHandle, api: httpx.Client) -> None:
    titles = [r for page in (1, 2) for r in api.get(f"/api/v1/search?query=&page={page}").json()["results"]]
    assert len(titles) == len(fixtures.MOVIES) + len(fixtures.SHOWS) + len(fixtures.OVERSEERR_EXTRA_TITLES)
    posters = [t["posterPath"] for t in titles]
    assert all(re.fullmatch(r"/[0-9A-Za-z]{27}\.jpg", p) for p in posters) and len(set(posters)) == len(posters)
    heat = next(t for t in titles if t["id"] == HEAT)
    assert api.get(f"/api/v1/movie/{HEAT}").json()["posterPath"] == heat["posterPath"]  # stable across calls

    # No API key needed, like image.tmdb.org; a poster is a PNG of the asked size, the same every time.
    image = httpx.get(f"{overseerr.url}/__sim__/tmdb/t/p/w300_and_h450_face{heat['posterPath']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", image.content[16:24]) == (300, 450)
    assert httpx.get(f"{overseerr.url}/__sim__/tmdb/t/p/w300_and_h450_face{heat['posterPath']}").content == \
        image.content
    w500 = httpx.get(f"{overseerr.url}/__sim__/tmdb/t/p/w500{heat['posterPath']}").content
    assert struct.unpack(">II", w500[16:24]) == (500, 750)
    for bad in ("/__sim__/tmdb/t/p/huge/abc.jpg", "/__sim__/tmdb/t/p/w500/abc.exe", "/__sim__/tmdb/t/p/w500/..%2Fx"):
        assert httpx.get(f"{overseerr.url}{bad}").status_code == 404, bad
    # The stand-in is a separate service: Overseerr faults do not take it down.
    overseerr.sim.set_faults(status=503)
    assert httpx.get(f"{overseerr.url}/__sim__/tmdb/t/p/w92{heat['posterPath']}").status_code == 200


def test_plex_url_uses_the_household_machine_id_without_a_pms_simulator(api: httpx.Client, flavour: str) -> None:
    rid = _request(api, "movie", DUNE, user=BOB).json()["id"]
    api.post(f"/api/v1/request/{rid}/approve")
    media = api.post(f"/__sim__/media/movie/{DUNE}/available").json()["media"]
    assert media["ratingKey"] == "9001"  # no PlexSim attached: ratingKeys come from a counter
    link = f"https://app.plex.tv/desktop#!/server/{fixtures.HOUSEHOLD_MACHINE_ID}/details?key=%2Flibrary%2Fmetadata%2F9001"
    # Overseerr fills plexUrl; Seerr 3.1 sends plexUrl null and the link in mediaUrl (§3.13).
    assert media["plexUrl"] == (None if flavour == "seerr" else link)
    assert media.get("mediaUrl") == (link if flavour == "seerr" else None)
    assert media["iOSPlexUrl"] == (f"plex://preplay/?metadataKey=%2Flibrary%2Fmetadata%2F9001"
                                   f"&server={fixtures.HOUSEHOLD_MACHINE_ID}")


def test_links_in_every_media_of_both_flavours(api: httpx.Client, flavour: str) -> None:
    search = api.get("/api/v1/search?query=heat").json()["results"]
    info = next(r for r in search if r["id"] == HEAT)["mediaInfo"]
    detail = api.get(f"/api/v1/movie/{HEAT}").json()["mediaInfo"]
    for media in (info, detail):
        link_key, empty_key = ("mediaUrl", "plexUrl") if flavour == "seerr" else ("plexUrl", "mediaUrl")
        assert media[link_key].startswith("https://app.plex.tv/desktop#!/server/")
        assert media.get(empty_key) is None and ("plexUrl" in media)
    assert "mediaUrl" not in api.get("/api/v1/search?query=the%20heat").json()["results"][0]  # no Media row


def test_completed_title_can_be_requested_again_only_in_seerr(api: httpx.Client, flavour: str) -> None:
    rid = _request(api, "movie", DUNE, user=BOB).json()["id"]
    api.post(f"/api/v1/request/{rid}/approve")
    done = api.post(f"/__sim__/requests/{rid}/available").json()
    assert done["status"] == (5 if flavour == "seerr" else 2)
    again = _request(api, "movie", DUNE, user=CAROL)
    # Overseerr: the first request is APPROVED, so 409. Seerr 3.1: it is COMPLETED, so a new one is made.
    assert again.status_code == (201 if flavour == "seerr" else 409)
    if flavour == "seerr":
        assert again.json()["status"] == 1 and again.json()["media"]["status"] == 5
        admin = _request(api, "movie", DUNE)
        assert admin.status_code == 201 and admin.json()["status"] == 2  # a needless auto-approved request
        count = api.get("/api/v1/request/count").json()
        assert count["completed"] == 1 and count["pending"] == 1
        assert [r["id"] for r in api.get("/api/v1/request", params={"filter": "completed"}).json()["results"]] == [rid]


def test_single_request_has_no_can_remove_the_seerr_list_has(api: httpx.Client, flavour: str) -> None:
    rid = _request(api, "movie", DUNE, user=BOB).json()["id"]
    assert "canRemove" not in api.get(f"/api/v1/request/{rid}").json()
    listed = api.get("/api/v1/request").json()["results"][0]
    assert ("canRemove" in listed) is (flavour == "seerr")


def test_user_settings_main_and_permissions_change_at_run_time(api: httpx.Client) -> None:
    main = api.get(f"/api/v1/user/{BOB}/settings/main")
    assert main.status_code == 200 and main.json()["movieQuotaLimit"] is None
    changed = api.post(f"/api/v1/user/{BOB}/settings/main",
                       json={"username": None, "movieQuotaLimit": 1, "movieQuotaDays": 7,
                             "tvQuotaLimit": None, "tvQuotaDays": None})
    assert changed.status_code == 200 and "username" in changed.json()
    assert api.get(f"/api/v1/user/{BOB}").json()["movieQuotaLimit"] == 1
    assert _request(api, "movie", DUNE, user=BOB).status_code == 201
    assert _request(api, "movie", OPPENHEIMER, user=BOB).json() == {"message": "Movie Quota exceeded."}
    # A member may read their own settings but not another's, and cannot lift their own quota.
    assert api.get(f"/api/v1/user/{BOB}/settings/main", headers={"X-Api-User": str(BOB)}).status_code == 200
    assert api.get(f"/api/v1/user/{CAROL}/settings/main", headers={"X-Api-User": str(BOB)}).status_code == 403
    api.post(f"/api/v1/user/{BOB}/settings/main", json={"movieQuotaLimit": None}, headers={"X-Api-User": str(BOB)})
    assert api.get(f"/api/v1/user/{BOB}").json()["movieQuotaLimit"] == 1
    assert api.get("/api/v1/user/99/settings/main").status_code == 404

    assert api.get(f"/api/v1/user/{BOB}/settings/permissions").json() == {"permissions": 32}
    assert api.post(f"/api/v1/user/{BOB}/settings/permissions", json={"permissions": 32 | 128}).json() == {
        "permissions": 160}
    auto = _request(api, "tv", SEVERANCE, user=BOB, seasons=[1])
    assert auto.status_code == 201 and auto.json()["status"] == 2  # AUTO_APPROVE now applies
    assert api.post("/api/v1/user/1/settings/permissions", json={"permissions": 32}).status_code == 403
    assert api.get(f"/api/v1/user/{CAROL}/settings/permissions",
                   headers={"X-Api-User": str(BOB)}).status_code == 403
    assert api.post(f"/api/v1/user/{BOB}/settings/permissions", json={"permissions": "x"}).status_code == 400
