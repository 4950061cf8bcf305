"""How the plex.tv simulator answers: v2 JSON or its XML form, errors, and the pin, account and
resource payloads (§1.8)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from medianest.simulators import fixtures
from medianest.simulators.plex.common import iso, plex_param, wants_json, xml_value
from medianest.simulators.plex.models import Account, Pin, Server
from medianest.simulators.plex.state import PlexSim

_SINGULAR = {"connections": "connection", "resources": "resource", "features": "feature",
             "entitlements": "entitlement", "roles": "role", "services": "service", "errors": "error"}


def tv_xml_element(name: str, data: Any) -> ET.Element:
    """Render plex.tv v2 JSON-shaped data as its XML form (scalars as attributes)."""
    element = ET.Element(name)
    if isinstance(data, list):
        element.set("size", str(len(data)))
        for entry in data:
            element.append(tv_xml_element(_SINGULAR.get(name, name.rstrip("s")), entry))
        return element
    if not isinstance(data, dict):
        element.text = xml_value(data)
        return element
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            element.append(tv_xml_element(key, value))
        elif isinstance(value, list):
            wrapper = ET.SubElement(element, key)
            for entry in value:
                child_name = _SINGULAR.get(key, key.rstrip("s"))
                if isinstance(entry, dict):
                    wrapper.append(tv_xml_element(child_name, entry))
                else:
                    ET.SubElement(wrapper, child_name, {"id": xml_value(entry)})
        else:
            element.set(key, xml_value(value))
    return element


def xml_response(element: ET.Element, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="utf-8")
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def tv_response(request: Request, payload: Any, root: str, status: int = 200) -> Response:
    if wants_json(request):
        return JSONResponse(payload, status_code=status)
    return xml_response(tv_xml_element(root, payload), status)


def tv_error(request: Request, status: int, code: int, message: str) -> Response:
    errors = [{"code": code, "message": message, "status": status}]
    if wants_json(request):
        return JSONResponse({"errors": errors}, status_code=status)
    return xml_response(tv_xml_element("errors", errors), status)


def unauthorized(request: Request) -> Response:
    return tv_error(request, 401, 1001, "User could not be authenticated")


def strict_reject(sim: PlexSim, request: Request) -> Response | None:
    """The 406 strict mode answers a request without ``Accept: application/json``, else ``None``."""
    if sim.strict and not wants_json(request):
        return JSONResponse({"errors": [{"code": 406, "status": 406,
                                         "message": "Simulator strict mode: send Accept: application/json"}]},
                            status_code=406)
    return None


def pin_payload(sim: PlexSim, pin: Pin) -> dict[str, Any]:
    """A pin as ``/api/v2/pins`` shows it."""
    approved = sim.accounts.get(pin.approved_by) if pin.approved_by else None
    return {
        "id": pin.id,
        "code": pin.code,
        "product": pin.product,
        "trusted": False,
        "qr": f"{sim.plex_tv_base_url}/api/v2/pins/qr/{pin.code}",
        "clientIdentifier": pin.client_id,
        "location": {"code": "XX", "european_union_member": False, "continent_code": "XX",
                     "country": "Simulated", "city": "Localhost", "time_zone": "UTC",
                     "postal_code": "00000", "in_privacy_restricted_country": False,
                     "subdivisions": "", "coordinates": "0.0, 0.0"},
        "expiresIn": max(0, int(pin.expires_at - sim.now())),
        "createdAt": iso(pin.created_at),
        "expiresAt": iso(pin.expires_at),
        "authToken": approved.token if approved else None,
        "newRegistration": None,
    }


def account_payload(sim: PlexSim, account: Account) -> dict[str, Any]:
    """An account as ``/api/v2/user`` shows it."""
    return {
        "id": account.id,
        "uuid": account.uuid,
        "username": account.username,
        "title": account.title,
        "email": account.email,
        "friendlyName": account.title,
        "locale": None,
        "confirmed": True,
        "joinedAt": account.joined_at,
        "emailOnlyAuth": False,
        "hasPassword": True,
        "protected": False,
        "thumb": f"{sim.plex_tv_base_url}/users/{account.uuid}/avatar?c={account.joined_at}",
        "authToken": account.token,
        "mailingListStatus": "unsubscribed",
        "mailingListActive": False,
        "scrobbleTypes": "",
        "country": "US",
        "subscription": {"active": False, "subscribedAt": None, "status": "Inactive",
                         "paymentService": None, "plan": None, "features": []},
        "subscriptionDescription": None,
        "restricted": False,
        "anonymous": None,
        "home": False,
        "guest": False,
        "homeSize": 1,
        "homeAdmin": False,
        "maxHomeSize": 15,
        "rememberExpiresAt": int(sim.now()) + 30 * 86400,
        "profile": {"autoSelectAudio": True, "defaultAudioLanguage": "en", "defaultSubtitleLanguage": "en",
                    "autoSelectSubtitle": 0, "defaultSubtitleAccessibility": 0, "defaultSubtitleForces": 0},
        "entitlements": [],
        "roles": [],
        "services": [],
        "adsConsent": None,
        "adsConsentSetAt": None,
        "adsConsentReminderAt": None,
        "experimentalFeatures": False,
        "twoFactorEnabled": False,
        "backupCodesCreated": False,
    }


def _connections_for(url: str) -> list[dict[str, Any]]:
    parts = urlsplit(url)
    address = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    base = {"protocol": parts.scheme or "http", "address": address, "port": port, "uri": url,
            "relay": False, "IPv6": ":" in address}
    return [{**base, "local": True}, {**base, "local": False}]


def _server_resource(sim: PlexSim, server: Server, account: Account, access_token: str) -> dict[str, Any]:
    owned = server.owner_id == account.id
    owner = sim.account_by_id(server.owner_id)
    return {
        "name": server.name, "product": "Plex Media Server", "productVersion": server.product_version,
        "platform": "Linux", "platformVersion": "6.1.0", "device": "PC",
        "clientIdentifier": server.machine_id, "createdAt": iso(server.created_at),
        "lastSeenAt": iso(sim.now() - 60), "provides": "server",
        "ownerId": None if owned else server.owner_id,
        "sourceTitle": None if owned else getattr(owner, "username", None),
        "publicAddress": "203.0.113.5", "accessToken": access_token, "owned": owned,
        "home": False, "synced": False, "relay": True, "presence": True, "httpsRequired": False,
        "publicAddressMatches": True, "dnsRebindingProtection": False, "natLoopbackSupported": True,
        "connections": _connections_for(server.url),
    }


def resources_for(sim: PlexSim, account: Account) -> list[dict[str, Any]]:
    """The devices ``account`` sees in ``/api/v2/resources``."""
    with sim._lock:
        devices: list[dict[str, Any]] = []
        token = sim.server_token(account.username)
        if token is not None:
            devices.append(_server_resource(sim, sim.household, account, token))
        for server in sim.other_servers:
            if server.owner_id == account.id:
                devices.append(_server_resource(sim, server, account, account.token))
        if account.id == sim.household.owner_id:
            devices.append({
                "name": fixtures.PLAYER_NAME, "product": "Plex for iOS", "productVersion": "8.40",
                "platform": "iOS", "platformVersion": "17.5", "device": "iPhone",
                "clientIdentifier": fixtures.PLAYER_CLIENT_ID,
                "createdAt": iso(fixtures.FIXTURE_EPOCH - 90 * 86400), "lastSeenAt": iso(sim.now() - 3600),
                "provides": "client,player,pubsub-player", "ownerId": None, "sourceTitle": None,
                "publicAddress": "203.0.113.5", "accessToken": account.token, "owned": True,
                "home": False, "synced": False, "relay": False, "presence": False, "httpsRequired": False,
                "publicAddressMatches": True, "dnsRebindingProtection": False,
                "natLoopbackSupported": False,
                "connections": [{"protocol": "http", "address": "192.168.1.23", "port": 32500,
                                 "uri": "http://192.168.1.23:32500", "local": True, "relay": False,
                                 "IPv6": False}],
            })
        return devices


def authenticated(sim: PlexSim, request: Request) -> Account | None:
    """The account whose token the request sends, if any."""
    return sim.account_by_token(plex_param(request, "X-Plex-Token"))
