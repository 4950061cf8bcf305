"""The values saved on the Services page: one ``ServiceConfig`` row per service (the address in
``url``, other plain values in ``extra``, the secrets as one token encrypted with the rotatable
``ENCRYPTION_KEY`` in ``secrets_encrypted``), merged over the environment's settings.

The environment gives the initial values and stays the fallback: a saved value wins, clearing it
(or saving the environment's own value) brings the environment's back. Every change writes one
audit row per field (never a secret's value)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...errors import DecryptionError, Forbidden
from ...integrations.plex import PlexTvClient
from ...log import register_secrets
from ...models import DownloadState, ServiceConfig, User, YoutubeDownload, utcnow
from ...security import Encryptor
from .. import audit, household
from ..auth import CurrentUser
from ..household import ServerChoice
from .fields import BY_ATTR, CLEAR_PREFIX, SERVICES, URL_FIELDS, FieldInvalid, FieldSpec, display, fields_of, parse

logger = logging.getLogger(__name__)

CHANGED = "service_config.changed"
RESET = "service_config.reset"
_OPEN_DOWNLOADS = (DownloadState.QUEUED.value, DownloadState.RUNNING.value, DownloadState.ADDING.value,
                   DownloadState.WAITING_PLEX.value)


@dataclass(frozen=True)
class SavedBy:
    at: datetime
    by: str


@dataclass(frozen=True)
class Stored:
    """What the Services page saved: ``values`` by ``Settings`` attribute (secrets in plain)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    saved: Mapping[str, SavedBy] = field(default_factory=dict)
    #: Services whose secrets no key of ``ENCRYPTION_KEY`` can read (the environment's apply).
    unreadable: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Change:
    spec: FieldSpec
    value: Any  # the value saved from now on; None: nothing saved (the environment's applies)
    word: str  # "set", "replaced", "cleared", "changed", "back to the environment"
    old: str = ""  # plain values only, for the audit row
    new: str = ""


@dataclass(frozen=True)
class SaveResult:
    service: str
    changes: tuple[Change, ...]

    @property
    def message(self) -> str:
        if not self.changes:
            return "Nothing changed."
        parts = ", ".join(f"{c.spec.label} {c.word}" for c in self.changes)
        return f"{SERVICES[self.service]} saved ({parts}). Every process uses it from now on."


def _decode(spec: FieldSpec, raw: Any) -> Any:
    if raw is None:
        return None
    if spec.kind == "path":
        return Path(str(raw))
    if spec.kind == "int":
        return int(raw)
    if spec.kind == "float":
        return float(raw)
    return str(raw)


def _encode(spec: FieldSpec, value: Any) -> Any:
    return str(value) if spec.kind == "path" else value


def _row_values(row: ServiceConfig, encryptor: Encryptor) -> tuple[dict[str, Any], bool]:
    """The typed values of one row, and whether its secrets could be read."""
    values: dict[str, Any] = {}
    url_attr = URL_FIELDS.get(row.service_name)
    if url_attr and row.url:
        values[url_attr] = row.url
    for attr, raw in (row.extra or {}).items():
        spec = BY_ATTR.get(attr)
        if spec is not None and spec.service == row.service_name and not spec.secret:
            values[attr] = _decode(spec, raw)
    readable = True
    if row.secrets_encrypted:
        try:
            secrets = json.loads(encryptor.decrypt(row.secrets_encrypted))
        except (DecryptionError, ValueError):
            logger.error("the saved secrets of %s cannot be read with ENCRYPTION_KEY; the environment's apply",
                         row.service_name)
            secrets, readable = {}, False
        for attr, value in secrets.items():
            spec = BY_ATTR.get(attr)
            if spec is not None and spec.service == row.service_name and spec.secret and value:
                values[attr] = str(value)
                register_secrets([values[attr]], permanent=True)  # kept out of every log line from now on
    return values, readable


async def load(session: AsyncSession, encryptor: Encryptor) -> Stored:
    """Every saved value (one query)."""
    rows = (await session.exec(select(ServiceConfig, User.username).join(
        User, col(User.id) == col(ServiceConfig.updated_by), isouter=True))).all()
    values: dict[str, Any] = {}
    saved: dict[str, SavedBy] = {}
    unreadable: set[str] = set()
    for row, username in rows:
        if row.service_name not in SERVICES:
            continue
        row_values, readable = _row_values(row, encryptor)
        values.update(row_values)
        if not readable:
            unreadable.add(row.service_name)
        if row_values:
            saved[row.service_name] = SavedBy(row.updated_at, username or "an admin")
    return Stored(values, saved, frozenset(unreadable))


def effective(env: Settings, stored: Stored) -> Settings:
    """The settings every process uses: the environment's, with the saved values over them."""
    update: dict[str, Any] = {}
    for attr, value in stored.values.items():
        update[attr] = SecretStr(value) if BY_ATTR[attr].secret else value
    return env.model_copy(update=update) if update else env


def env_value(env: Settings, spec: FieldSpec) -> Any:
    """The environment's value of a field (or its default): the fallback."""
    if spec.secret:
        return env.secret_value(spec.attr) or None
    return getattr(env, spec.attr)


def changes(service: str, form: Mapping[str, Any], *, env: Settings, stored: Stored) -> list[Change]:
    """What saving ``form`` on ``service``'s card would change (nothing is written).

    A secret left empty stays as it is; ``clear:<field>`` clears it. An empty plain field, or the
    environment's own value, removes what was saved.

    Raises:
        FieldInvalid: the first field whose value cannot be used, named.
    """
    found: list[Change] = []
    for spec in fields_of(service):
        fallback = env_value(env, spec)
        saved = stored.values.get(spec.attr)
        is_saved = spec.attr in stored.values
        current = saved if is_saved else fallback
        if spec.secret:
            typed = str(form.get(spec.attr) or "")
            clear = str(form.get(CLEAR_PREFIX + spec.attr) or "").lower() in ("on", "true", "1")
            if typed:
                register_secrets([typed])  # even a value that is refused never reaches a log line
                value = parse(spec, typed)
                if value == current:
                    continue
                if value == fallback:  # the environment's own value: nothing needs saving
                    found.append(Change(spec, None, "back to the environment"))
                else:
                    found.append(Change(spec, value, "replaced" if current else "set"))
            elif clear and is_saved:
                found.append(Change(spec, None, "cleared" if not fallback else "back to the environment"))
            continue
        if spec.attr not in form:
            continue
        value = parse(spec, str(form[spec.attr]))
        if value is None or value == fallback:
            if is_saved:
                found.append(Change(spec, None, "back to the environment", display(spec, saved),
                                    display(spec, fallback)))
            continue
        if value != current:
            found.append(Change(spec, value, "changed", display(spec, current), display(spec, value)))
    return found


async def _locked_row(session: AsyncSession, service: str) -> ServiceConfig | None:
    return (await session.exec(select(ServiceConfig).where(ServiceConfig.service_name == service)
                               .with_for_update())).first()


async def _refuse_root_change_while_busy(session: AsyncSession, spec: FieldSpec) -> None:
    """Downloads under way finish in the folder they started in; a new folder waits for them."""
    busy = (await session.exec(select(sa.func.count()).select_from(YoutubeDownload)
                               .where(col(YoutubeDownload.status).in_(_OPEN_DOWNLOADS)))).one()
    if busy:
        raise FieldInvalid(spec, f"{busy} download{'s are' if busy != 1 else ' is'} still under way in the "
                                 "current folder; change the folder once they have finished (or cancel them).")


async def save(session: AsyncSession, *, actor: CurrentUser, service: str, form: Mapping[str, Any], env: Settings,
               encryptor: Encryptor, client_ip: str | None = None) -> SaveResult:
    """Validate every field of one card, then save them together (in the caller's transaction)
    with an audit row per changed field. Announce the new version after the commit
    (``config_version.bump``).

    Raises:
        Forbidden: the actor is not an admin.
        FieldInvalid: a value that cannot be used, named; nothing is saved.
    """
    if not actor.is_admin:
        raise Forbidden("Only admins can change the services.")
    row = await _locked_row(session, service)
    values, _ = _row_values(row, encryptor) if row is not None else ({}, True)
    found = changes(service, form, env=env, stored=Stored(values))
    if not found:
        return SaveResult(service, ())
    for change in found:
        if change.spec.attr == "downloads_root":
            await _refuse_root_change_while_busy(session, change.spec)
        if change.value is None:
            values.pop(change.spec.attr, None)
        else:
            values[change.spec.attr] = change.value
    await _write(session, row, service, values, actor_id=actor.id, encryptor=encryptor)
    for change in found:
        details: dict[str, str] = {"service": SERVICES[service], "field": change.spec.label, "change": change.word}
        if not change.spec.secret:
            details.update(old=change.old, new=change.new)
        await audit.record(session, CHANGED, actor_user_id=actor.id, target=change.spec.key, client_ip=client_ip,
                           **details)
    return SaveResult(service, tuple(found))


async def _write(session: AsyncSession, row: ServiceConfig | None, service: str, values: dict[str, Any], *,
                 actor_id: int, encryptor: Encryptor) -> None:
    if not values:
        if row is not None:
            await session.delete(row)
            await session.flush()
        return
    row = row or ServiceConfig(service_name=service)
    url_attr = URL_FIELDS.get(service)
    secrets = {attr: v for attr, v in values.items() if BY_ATTR[attr].secret}
    row.url = values.get(url_attr) if url_attr else None
    row.extra = {attr: _encode(BY_ATTR[attr], v) for attr, v in values.items()
                 if not BY_ATTR[attr].secret and attr != url_attr}
    row.secrets_encrypted = encryptor.encrypt(json.dumps(secrets, sort_keys=True)) if secrets else None
    row.updated_at, row.updated_by = utcnow(), actor_id
    session.add(row)
    await session.flush()


async def forget(session: AsyncSession, *, actor: CurrentUser, service: str, encryptor: Encryptor,
                 client_ip: str | None = None) -> int:
    """Drop everything saved for one service: the environment's values apply again. Returns how
    many fields went back; one audit row each.

    Raises:
        Forbidden: the actor is not an admin.
        FieldInvalid: the downloads folder would change while downloads are under way.
    """
    if not actor.is_admin:
        raise Forbidden("Only admins can change the services.")
    fields_of(service)
    row = await _locked_row(session, service)
    if row is None:
        return 0
    values, _ = _row_values(row, encryptor)
    if "downloads_root" in values:
        await _refuse_root_change_while_busy(session, BY_ATTR["downloads_root"])
    await session.delete(row)
    for attr in sorted(values, key=lambda a: [s.attr for s in fields_of(service)].index(a)):
        spec = BY_ATTR[attr]
        await audit.record(session, RESET, actor_user_id=actor.id, target=spec.key, client_ip=client_ip,
                           service=SERVICES[service], field=spec.label, change="back to the environment")
    await session.flush()
    return len(values)


async def rotate_secrets(session: AsyncSession, encryptor: Encryptor) -> int:
    """Re-encrypt saved secrets that an older key of ``ENCRYPTION_KEY`` wrote with the newest one,
    so the old key can later be removed. Returns how many rows were rewritten."""
    rotated = 0
    rows = (await session.exec(select(ServiceConfig).where(col(ServiceConfig.secrets_encrypted).is_not(None)))).all()
    for row in rows:
        if not row.secrets_encrypted or encryptor.is_current(row.secrets_encrypted):
            continue
        try:
            row.secrets_encrypted = encryptor.rotate(row.secrets_encrypted)
        except DecryptionError:
            logger.error("the saved secrets of %s cannot be read with any key of ENCRYPTION_KEY", row.service_name)
            continue
        session.add(row)
        rotated += 1
    if rotated:
        await session.flush()
        logger.info("re-encrypted the saved secrets of %s services with the newest key", rotated)
    return rotated


async def choose_household(session: AsyncSession, *, actor: CurrentUser, machine_id: str, plex_tv: PlexTvClient,
                           encryptor: Encryptor, client_ip: str | None = None) -> ServerChoice:
    """Make another of the admin's servers the household's (as at setup). A server address saved
    for the previous one is dropped: the new server's own address applies.

    Raises:
        Forbidden / ValidationFailed: as ``household.choose_server``.
    """
    chosen = await household.choose_server(session, actor=actor, machine_id=machine_id, plex_tv=plex_tv,
                                           encryptor=encryptor, client_ip=client_ip)
    row = await _locked_row(session, "plex")
    if row is not None and row.url:
        old_url = row.url
        values, _ = _row_values(row, encryptor)
        values.pop("plex_url", None)
        await _write(session, row, "plex", values, actor_id=actor.id, encryptor=encryptor)
        spec = BY_ATTR["plex_url"]
        await audit.record(session, CHANGED, actor_user_id=actor.id, target=spec.key, client_ip=client_ip,
                           service=SERVICES["plex"], field=spec.label, change="back to the server's own address",
                           old=old_url, new=chosen.url or "")
    return chosen
