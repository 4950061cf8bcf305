""""Test connection": the values of a card's form (saved or not) tried against the real service,
answered in one plain sentence within the HTTP timeout. Nothing is saved, and the clients get a
breaker of their own, so a wrong address tried here never opens the service's real breaker."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...errors import DecryptionError, IntegrationRejected, IntegrationUnavailable
from ...integrations.overseerr import OverseerrClient
from ...integrations.overseerr_errors import ApiKeyRefused
from ...integrations.plex import PlexServerClient
from ...integrations.uptime_kuma import KumaLiveConnection, KumaLoginRefused, UptimeKumaClient
from ...security import Encryptor
from .. import system
from .fields import BY_ATTR, fields_of, writable_folder
from .store import Stored, changes, effective, load

HOUSEHOLD_TOKEN_KEY = "household_server_token"


class ProbeClients(Protocol):
    """Builds the clients a test needs from the form's values (the wiring provides it)."""

    @property
    def timeout_s(self) -> float: ...

    def overseerr(self, url: str, *, api_key: str | None) -> OverseerrClient: ...

    def uptime_kuma(self, url: str, *, api_key: str | None, username: str | None,
                    password: str | None) -> UptimeKumaClient: ...

    def kuma_socket(self, url: str, *, username: str, password: str) -> KumaLiveConnection: ...

    def plex_server(self, url: str, *, token: str | None, client_id: str) -> PlexServerClient: ...


@dataclass(frozen=True)
class ProbeResult:
    service: str
    ok: bool
    message: str


@dataclass(frozen=True)
class _Candidate:
    settings: Settings
    saved: frozenset[str]


def _unreachable(exc: IntegrationUnavailable, service: str, timeout_s: float) -> str:
    detail = str(exc).lower()
    if "timeout" in detail:
        return f"Nothing answered at that address within {timeout_s:g} seconds."
    if any(word in detail for word in ("connect", "network", "protocol", "readerror", "writeerror")):
        return "Nothing answers at that address."
    return f"Something answers at that address, but it is not {service}."


async def try_connection(session: AsyncSession, *, service: str, form: Mapping[str, Any], env: Settings,
                          encryptor: Encryptor, clients: ProbeClients) -> ProbeResult:
    """Try a card's values (the form over what is in force) without saving anything.

    Raises:
        FieldInvalid: a value that cannot be used, named (as Save would refuse it).
    """
    fields_of(service)
    stored = await load(session, encryptor)
    values = dict(stored.values)
    for change in changes(service, form, env=env, stored=stored):
        if change.value is None:
            values.pop(change.spec.attr, None)
        else:
            values[change.spec.attr] = change.value
    candidate = _Candidate(effective(env, Stored(values)), frozenset(values))
    try:
        async with asyncio.timeout(clients.timeout_s + 1):
            ok, message = await _PROBES[service](session, candidate, clients, encryptor)
    except TimeoutError:
        ok, message = False, f"Nothing answered at that address within {clients.timeout_s:g} seconds."
    return ProbeResult(service, ok, message)


async def _overseerr(session: AsyncSession, candidate: _Candidate, clients: ProbeClients,
                     encryptor: Encryptor) -> tuple[bool, str]:
    settings = candidate.settings
    if not settings.overseerr_url:
        return False, "Overseerr has no address yet: enter it above."
    key = settings.secret_value("overseerr_api_key") or None
    client = clients.overseerr(settings.overseerr_url, api_key=key)
    try:
        status = await client.status()
    except IntegrationUnavailable as exc:
        return False, _unreachable(exc, "Overseerr", clients.timeout_s)
    except IntegrationRejected:
        return False, "Something answers at that address, but it is not Overseerr."
    if key is None:
        return False, f"Overseerr {status.version} answers, but no API key is set: search and requests need one."
    try:
        me = await client.me()
    except ApiKeyRefused:
        return False, f"Overseerr {status.version} answers at that address, but it refused the API key."
    except IntegrationRejected as exc:
        return False, f"Overseerr {status.version} answers, but refused the key's user (HTTP {exc.status_code})."
    except IntegrationUnavailable as exc:
        return False, _unreachable(exc, "Overseerr", clients.timeout_s)
    return True, f"Connected to Overseerr {status.version} as {me.display_name or 'user ' + str(me.id)}."


async def _uptime_kuma(session: AsyncSession, candidate: _Candidate, clients: ProbeClients,
                       encryptor: Encryptor) -> tuple[bool, str]:
    settings = candidate.settings
    if not settings.uptime_kuma_url:
        return False, "Uptime Kuma has no address yet: enter it above."
    key = settings.secret_value("uptime_kuma_api_key") or None
    username = settings.uptime_kuma_username or None
    password = settings.secret_value("uptime_kuma_password") or None
    if key is None and not (username and password):
        return False, "Uptime Kuma needs an API key (or a username and password) to report its monitors."
    client = clients.uptime_kuma(settings.uptime_kuma_url, api_key=key, username=username, password=password)
    try:
        monitors = await client.fetch_metrics()
    except IntegrationRejected as exc:
        return False, exc.user_message if exc.status_code == 401 else \
            "Something answers at that address, but it is not Uptime Kuma."
    except IntegrationUnavailable as exc:
        return False, _unreachable(exc, "Uptime Kuma", clients.timeout_s)
    version = ""
    notes = []
    if username and password:
        try:
            version = await clients.kuma_socket(settings.uptime_kuma_url, username=username,
                                                password=password).check_login() or ""
            notes.append(f"signed in as {username} for live updates")
        except KumaLoginRefused:
            return False, (f"Uptime Kuma answers ({len(monitors)} monitors), but it refused the username or "
                           "password, so live updates stay off.")
        except IntegrationUnavailable:
            notes.append("its live connection did not answer (status still updates every check)")
    slug = settings.uptime_kuma_status_page
    if slug:
        try:
            published = await client.fetch_status_page(slug)
            notes.append(f"status page “{slug}” shows {len(published)} monitors")
        except (IntegrationRejected, IntegrationUnavailable):
            return False, f"Uptime Kuma answers ({len(monitors)} monitors), but it has no status page “{slug}”."
    what = f"Uptime Kuma {version}" if version else "Uptime Kuma"
    return True, f"Connected to {what}: {len(monitors)} monitors" + "".join(f"; {n}" for n in notes) + "."


async def _plex(session: AsyncSession, candidate: _Candidate, clients: ProbeClients,
                encryptor: Encryptor) -> tuple[bool, str]:
    settings = candidate.settings
    server = await system.household_server(session)
    url = settings.plex_url if "plex_url" in candidate.saved else (server.url if server and server.url else
                                                                    settings.plex_url)
    if not url:
        return False, "There is no address for Plex yet: choose the household server, or enter its address."
    stored = await system.get_value(session, HOUSEHOLD_TOKEN_KEY)
    token = settings.secret_value("plex_token") or None
    if stored and stored.get("token"):
        try:
            token = encryptor.decrypt(str(stored["token"]))
        except DecryptionError:
            return False, "The household server's token cannot be read with ENCRYPTION_KEY: choose the server again."
    client_id = await system.plex_client_id(session, settings.plex_client_id)
    client = clients.plex_server(url, token=token, client_id=client_id)
    try:
        machine_id = await client.identity()
    except IntegrationUnavailable as exc:
        return False, _unreachable(exc, "a Plex server", clients.timeout_s)
    except IntegrationRejected:
        return False, "Something answers at that address, but it is not a Plex server."
    if server is None:
        return False, "A Plex server answers there, but no household server is chosen yet: choose one below."
    if machine_id != server.machine_id:
        return False, "That address is a Plex server but not the household's."
    try:
        sections = await client.sections()
    except IntegrationRejected:
        return False, f"{server.name} answers, but refused the household server's token: choose the server again."
    except IntegrationUnavailable as exc:
        return False, _unreachable(exc, "a Plex server", clients.timeout_s)
    wanted = settings.plex_downloads_library.strip().casefold()
    if not any(s.title.strip().casefold() == wanted for s in sections):
        return False, (f"Connected to the household's Plex server {server.name}, but it has no library named "
                       f"“{settings.plex_downloads_library}” for the downloads.")
    return True, (f"Connected to the household's Plex server {server.name}; downloads go to its "
                  f"“{settings.plex_downloads_library}” library.")


async def _downloads(session: AsyncSession, candidate: _Candidate, clients: ProbeClients,
                     encryptor: Encryptor) -> tuple[bool, str]:
    settings = candidate.settings
    folder = writable_folder(BY_ATTR["downloads_root"], str(settings.downloads_dir.resolve()))
    free_mb = shutil.disk_usage(folder).free // 1_000_000
    if free_mb < settings.downloads_min_free_mb:
        return False, (f"MediaNest can write in {folder}, but only {free_mb:,} MB are free: new videos wait until "
                       f"{settings.downloads_min_free_mb:,} MB are.")
    hosts = settings.downloads_hosts
    allowed = f"; links from YouTube{''.join(', ' + h for h in hosts)} are accepted"
    return True, f"MediaNest can write in {folder}, with {free_mb / 1000:,.1f} GB free{allowed}."


_PROBES = {"overseerr": _overseerr, "uptime_kuma": _uptime_kuma, "plex": _plex, "downloads": _downloads}
