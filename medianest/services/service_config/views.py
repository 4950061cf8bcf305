"""What the Services page shows: one card per service, each field with the value in force, where
it comes from (saved here, the environment, the default) and, for a secret, only whether it is
set and its last four characters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from ...config import Settings
from ...db import as_utc
from ...security import Encryptor
from .. import system
from .fields import SERVICES, FieldSpec, display, fields_of, mask
from .store import Stored, env_value, load

SOURCE_SAVED = "saved here"
SOURCE_ENV = "environment"
SOURCE_DEFAULT = "default"
SOURCE_UNSET = "not set"

_DESCRIPTIONS = {
    "plex": "The household's Plex Media Server: members sign in against it, the Library browses it and "
            "downloads land in its YouTube library.",
    "overseerr": "Search and requests go to Overseerr (each request as the member who made it).",
    "uptime_kuma": "Every Uptime Kuma monitor appears on the status board.",
    "downloads": "YouTube videos and playlists members send to Plex.",
}
_INPUTS = {"secret": "secret", "int": "number", "float": "number", "choice": "choice"}


@dataclass(frozen=True)
class OptionView:
    value: str
    label: str


@dataclass(frozen=True)
class FieldView:
    attr: str
    label: str
    #: "text", "secret", "number" or "choice".
    input: str
    #: A plain field's value in force ("" for secrets, which never leave the server).
    value: str
    placeholder: str
    #: Secrets: "set · ends in …4f2a" or "not set".
    secret_state: str
    #: "saved here", "environment", "default" or "not set".
    source: str
    source_note: str
    #: Something is saved here that ``clear``/an empty value would drop.
    saved: bool
    help: str
    options: list[OptionView]
    step: str


@dataclass(frozen=True)
class CardView:
    service: str
    title: str
    description: str
    fields: list[FieldView]
    saved_note: str
    has_saved: bool
    #: Plex only: the household server chosen at setup.
    household: str
    warning: str


def _source(spec: FieldSpec, env: Settings, stored: Stored) -> tuple[str, str]:
    if spec.attr in stored.values:
        return SOURCE_SAVED, "saved here"
    value = env_value(env, spec)
    if spec.attr in env.model_fields_set and value not in (None, ""):
        return SOURCE_ENV, f"from {spec.env} in the environment"
    if value not in (None, ""):
        return SOURCE_DEFAULT, f"default ({spec.env} is not set)"
    return SOURCE_UNSET, f"not set ({spec.env} is not set either)"


def field_view(spec: FieldSpec, env: Settings, stored: Stored, *, placeholder: str = "") -> FieldView:
    source, note = _source(spec, env, stored)
    value = stored.values.get(spec.attr) if spec.attr in stored.values else env_value(env, spec)
    step = "1" if spec.kind == "int" else "0.25" if spec.kind == "float" else ""
    if spec.secret:
        state = mask(value)
        return FieldView(spec.attr, spec.label, "secret", "", "Type a new value to replace it" if value
                         else "Type a value", state, source, note, spec.attr in stored.values, spec.help, [], step)
    return FieldView(spec.attr, spec.label, _INPUTS.get(spec.kind, "text"), display(spec, value), placeholder,
                     "", source, note, spec.attr in stored.values, spec.help,
                     [OptionView(v, label) for v, label in spec.options], step)


async def cards(session: AsyncSession, *, env: Settings, encryptor: Encryptor) -> list[CardView]:
    """Every card of the Services page."""
    stored = await load(session, encryptor)
    server = await system.household_server(session)
    shown = []
    for service, title in SERVICES.items():
        views = []
        for spec in fields_of(service):
            placeholder = ""
            if spec.attr == "plex_url" and server is not None and server.url:
                placeholder = f"{server.url} (from setup)"
            elif spec.attr == "downloads_root":
                placeholder = f"{env.data_dir / 'downloads'} (the default)"
            views.append(field_view(spec, env, stored, placeholder=placeholder))
        saved = stored.saved.get(service)
        if saved is not None:
            at = as_utc(saved.at)
            note = f"Values marked “saved here” were saved on {at:%Y-%m-%d at %H:%M} UTC by {saved.by}; the others " \
                   "come from the environment." if at else "Some values are saved here."
        else:
            note = "Every value comes from the environment (or its default); nothing is saved here."
        warning = ("The secrets saved here cannot be read with the current ENCRYPTION_KEY; the environment's "
                   "apply. Enter them again.") if service in stored.unreadable else ""
        household = ""
        if service == "plex":
            household = f"{server.name} ({server.machine_id[:12]}…)" if server else "No household server is chosen yet."
        shown.append(CardView(service, title, _DESCRIPTIONS[service], views, note, saved is not None, household,
                              warning))
    return shown
