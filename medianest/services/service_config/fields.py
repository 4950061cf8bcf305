"""Every field of the Services page: which setting it overrides, its environment variable, and the
rule a new value must pass. Pure: no database, no network (the folder check touches the disk)."""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ...errors import ValidationFailed
from ..downloads.rules import QUALITIES

Kind = Literal["url", "secret", "text", "slug", "int", "float", "path", "hosts", "choice"]

#: The cards, in page order: service key → title.
SERVICES: dict[str, str] = {"plex": "Plex", "overseerr": "Overseerr", "uptime_kuma": "Uptime Kuma",
                            "downloads": "YouTube downloads"}


@dataclass(frozen=True)
class FieldSpec:
    """One setting an admin may change on the Services page."""

    service: str
    attr: str  # the ``Settings`` attribute it overrides
    label: str
    kind: Kind
    env: str  # the environment variable that gives its initial value
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[tuple[str, str], ...] = ()
    pattern: str = ""  # the shape of a secret or a slug (a full match)
    shape: str = ""  # that shape in words
    max_length: int = 1024

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def key(self) -> str:
        return f"{self.service}.{self.attr}"


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("plex", "plex_url", "Server address", "url", "PLEX_URL",
              "How MediaNest reaches the household server. Empty: the address Plex gave at setup."),
    FieldSpec("plex", "plex_downloads_library", "YouTube library", "text", "PLEX_DOWNLOADS_LIBRARY",
              "The Plex library on the downloads folder (found by its folder first, else by this name).",
              max_length=128),
    FieldSpec("overseerr", "overseerr_url", "Address", "url", "OVERSEERR_URL", "For example http://overseerr:5055."),
    FieldSpec("overseerr", "overseerr_api_key", "API key", "secret", "OVERSEERR_API_KEY",
              "Overseerr → Settings → General → API Key.", pattern=r"[A-Za-z0-9+/=_-]{16,256}",
              shape="an Overseerr API key is 16 or more letters and digits, without spaces"),
    FieldSpec("overseerr", "overseerr_webhook_secret", "Webhook secret", "secret", "OVERSEERR_WEBHOOK_SECRET",
              "The Authorization header of Overseerr's Webhook agent (pointing at /webhooks/overseerr).",
              pattern=r"[!-~]{16,256}", shape="use at least 16 characters, without spaces"),
    FieldSpec("uptime_kuma", "uptime_kuma_url", "Address", "url", "UPTIME_KUMA_URL",
              "For example http://uptime-kuma:3001."),
    FieldSpec("uptime_kuma", "uptime_kuma_api_key", "API key", "secret", "UPTIME_KUMA_API_KEY",
              "Uptime Kuma → Settings → API Keys; reads /metrics for every monitor.",
              pattern=r"uk\d+_[A-Za-z0-9_-]{8,200}", shape="an Uptime Kuma API key looks like uk1_ followed by "
                                                             "letters and digits"),
    FieldSpec("uptime_kuma", "uptime_kuma_username", "Username", "text", "UPTIME_KUMA_USERNAME",
              "With the password: Kuma's live connection, for instant changes.", max_length=128),
    FieldSpec("uptime_kuma", "uptime_kuma_password", "Password", "secret", "UPTIME_KUMA_PASSWORD",
              pattern=r"[^\r\n]{1,256}", shape="a password is one line of at most 256 characters"),
    FieldSpec("uptime_kuma", "uptime_kuma_status_page", "Status page slug", "slug", "UPTIME_KUMA_STATUS_PAGE",
              "Optional: a public status page whose 24-hour uptime is shown where /metrics has none.",
              pattern=r"[A-Za-z0-9_-]{1,64}", shape="a slug is letters, digits and dashes, as in the page's address"),
    FieldSpec("downloads", "downloads_root", "Downloads folder", "path", "DOWNLOADS_ROOT",
              "Where videos are written (one folder per member); the Plex YouTube library serves it."),
    FieldSpec("downloads", "downloads_allowed_hosts", "Allowed hosts", "hosts", "DOWNLOADS_ALLOWED_HOSTS",
              "Sites besides YouTube whose links members may download, separated by commas."),
    FieldSpec("downloads", "downloads_quality", "Default quality", "choice", "DOWNLOAD_QUALITY_DEFAULT",
              "What the quality menu shows first.", options=tuple(QUALITIES.items())),
    FieldSpec("downloads", "downloads_per_hour", "Downloads per member per hour", "int", "DOWNLOAD_LIMIT_PER_HOUR",
              minimum=1, maximum=1000),
    FieldSpec("downloads", "downloads_max_entries", "Most videos per playlist", "int", "DOWNLOAD_MAX_ENTRIES",
              minimum=1, maximum=1000),
    FieldSpec("downloads", "downloads_max_file_mb", "Largest file (MB)", "int", "DOWNLOAD_MAX_FILE_MB",
              minimum=1, maximum=1_000_000),
    FieldSpec("downloads", "downloads_min_free_mb", "Keep free on the disk (MB)", "int", "DOWNLOAD_MIN_FREE_MB",
              "Below this, new videos wait instead of failing.", minimum=0, maximum=10_000_000),
    FieldSpec("downloads", "downloads_concurrency", "Videos at once per worker", "int", "DOWNLOAD_CONCURRENCY",
              minimum=1, maximum=16),
    FieldSpec("downloads", "downloads_sync_hours", "Playlist sync interval (hours)", "float",
              "DOWNLOAD_SYNC_INTERVAL_HOURS", "How often playlists kept in sync are looked at again.",
              minimum=0.25, maximum=720),
)

BY_ATTR: dict[str, FieldSpec] = {spec.attr: spec for spec in FIELDS}
#: The field kept in ``ServiceConfig.url`` for each service that has an address.
URL_FIELDS: dict[str, str] = {spec.service: spec.attr for spec in FIELDS if spec.kind == "url"}
CLEAR_PREFIX = "clear:"


def fields_of(service: str) -> tuple[FieldSpec, ...]:
    """The fields of one card.

    Raises:
        ValidationFailed: for a service the page does not have.
    """
    if service not in SERVICES:
        raise ValidationFailed("There is no such service on this page.")
    return tuple(spec for spec in FIELDS if spec.service == service)


class FieldInvalid(ValidationFailed):
    """A value that cannot be used; ``field`` names it (the ``Settings`` attribute)."""

    def __init__(self, spec: FieldSpec, problem: str) -> None:
        super().__init__(f"{SERVICES[spec.service]} · {spec.label}: {problem}")
        self.field = spec.attr
        self.problem = problem


_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def parse(spec: FieldSpec, raw: str) -> Any:
    """The typed value of one submitted field; None for an empty one (back to the environment).

    Raises:
        FieldInvalid: naming the field and what is wrong with the value.
    """
    text = str(raw or "")
    if spec.kind != "secret":
        text = text.strip()
    if not text:
        return None
    if len(text) > spec.max_length:
        raise FieldInvalid(spec, f"use at most {spec.max_length} characters.")
    if spec.kind == "url":
        return _url(spec, text)
    if spec.kind in ("secret", "slug"):
        if not re.fullmatch(spec.pattern, text):
            what = "that key" if spec.secret else "that value"
            raise FieldInvalid(spec, f"{what} has the wrong shape ({spec.shape}).")
        return text
    if spec.kind in ("int", "float"):
        return _number(spec, text)
    if spec.kind == "choice":
        if text not in dict(spec.options):
            raise FieldInvalid(spec, "choose one of " + ", ".join(label for _, label in spec.options) + ".")
        return text
    if spec.kind == "hosts":
        return _hosts(spec, text)
    if spec.kind == "path":
        return writable_folder(spec, text)
    if any(ch in text for ch in "\r\n\t"):
        raise FieldInvalid(spec, "use one line of text.")
    return text


def _url(spec: FieldSpec, text: str) -> str:
    try:
        parts = urlsplit(text)
        port = parts.port  # a port that is not a number, or out of range, raises ValueError
    except ValueError as exc:
        raise FieldInvalid(spec, f"“{text}” is not a web address.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise FieldInvalid(spec, f"“{text}” is not a web address; write it as http://host:port or https://host.")
    if parts.username or parts.password:
        raise FieldInvalid(spec, "leave names and passwords out of the address; they have fields of their own.")
    if parts.query or parts.fragment:
        raise FieldInvalid(spec, "the address cannot have a ? or # part.")
    return text.rstrip("/")


def _number(spec: FieldSpec, text: str) -> int | float:
    whole = spec.kind == "int"
    try:
        value: int | float = int(text) if whole else float(text)
    except ValueError as exc:
        raise FieldInvalid(spec, f"“{text}” is not a {'whole ' if whole else ''}number.") from exc
    low, high = spec.minimum, spec.maximum
    if (low is not None and value < low) or (high is not None and value > high) or value != value:
        bounds = f"from {_plain(low)} to {_plain(high)}"
        raise FieldInvalid(spec, f"use a {'whole ' if whole else ''}number {bounds}.")
    return value


def _plain(value: float | None) -> str:
    return "" if value is None else (f"{value:,.0f}" if float(value).is_integer() else f"{value:g}")


def _hosts(spec: FieldSpec, text: str) -> str:
    hosts = []
    for item in re.split(r"[,\s]+", text):
        host = item.strip().lower().rstrip(".")
        if not host:
            continue
        if not _is_host(host):
            raise FieldInvalid(spec, f"“{item}” is not a host name; write names like videos.example.org, "
                                     "separated by commas.")
        if host not in hosts:
            hosts.append(host)
    return ",".join(hosts)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST.fullmatch(host))


def writable_folder(spec: FieldSpec, text: str) -> Path:
    """An existing folder MediaNest can write to (checked by writing a file in it)."""
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise FieldInvalid(spec, f"“{text}” is not a full path; start it with /.")
    if not path.exists():
        raise FieldInvalid(spec, f"the folder {path} does not exist.")
    if not path.is_dir():
        raise FieldInvalid(spec, f"{path} is not a folder.")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".medianest-write-check-"):
            pass
    except OSError as exc:
        raise FieldInvalid(spec, f"MediaNest cannot write in {path} ({os.strerror(exc.errno or 0).lower()}).") \
            from exc
    return path


def mask(secret: str | None) -> str:
    """How a secret is shown: never the value; its last four characters only when it is long
    enough for them to give nothing useful away."""
    if not secret:
        return "not set"
    return f"set · ends in …{secret[-4:]}" if len(secret) >= 12 else "set"


def display(spec: FieldSpec, value: Any) -> str:
    """A non-secret value as the form shows it (and the audit log records it)."""
    if value is None:
        return ""
    if spec.kind == "float":
        return f"{float(value):g}"
    if spec.kind == "hosts":
        return ", ".join(h for h in str(value).split(",") if h)
    return str(value)
