"""The Uptime Kuma simulator's vocabulary: status codes, versions, fixed answers, the time and
label formats, and the rows it keeps (monitors, heartbeats, API keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medianest.simulators import fixtures

STATUS_DOWN, STATUS_UP, STATUS_PENDING, STATUS_MAINTENANCE = 0, 1, 2, 3
STATUS_CODES = {"down": STATUS_DOWN, "up": STATUS_UP, "pending": STATUS_PENDING,
                "maintenance": STATUS_MAINTENANCE}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
VERSIONS = ("1.23", "2.x")
#: Heartbeats kept per monitor (the socket sends the newest 100, status pages 50/100).
RING_SIZE = 1000
_UP_LIKE = (STATUS_UP, STATUS_MAINTENANCE)
_ROOM = "authenticated"
_LOGIN_WINDOW_SECONDS = 60.0

_NOT_LOGGED_IN = {"ok": False, "msg": "You are not logged in."}
_LOGIN_FAILED = {
    "1.23": {"ok": False, "msg": "Incorrect username or password."},
    "2.x": {"ok": False, "msg": "authIncorrectCreds", "msgi18n": True},
}
_TOKEN_FAILED = {
    "1.23": {"ok": False, "msg": "Invalid token."},
    "2.x": {"ok": False, "msg": "authInvalidToken", "msgi18n": True},
}
_RATE_LIMITED = {"ok": False, "msg": "Too frequently, try again later."}


def kuma_time(epoch: float) -> str:
    """Kuma's time format: UTC, no zone, milliseconds (``2025-01-01 10:00:00.000``)."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _kuma_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _login_token(username: str, password: str) -> str:
    """A JWT shaped like Kuma's (``{username, h}``), without ``iat`` so it is stable."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    h = hashlib.shake_256(password.encode()).hexdigest(16)
    payload = _b64url(json.dumps({"username": username, "h": h}, separators=(",", ":")).encode())
    signature = hmac.new(fixtures.KUMA_JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64url(signature.digest())}"


def _prom_label(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _prom_value(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _tag_label_name(name: str) -> str:
    label = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return f"_{label}" if label[:1].isdigit() else label


@dataclass
class Heartbeat:
    """One row of Kuma's ``heartbeat`` table."""

    id: int
    monitor_id: int
    status: int
    time: float
    ping: float | None
    msg: str
    important: bool
    duration: int
    down_count: int = 0
    retries: int = 0


@dataclass
class Monitor:
    """One monitor and its heartbeat ring (oldest first)."""

    id: int
    name: str
    type: str
    url: str
    hostname: str | None
    port: int | None
    active: bool
    interval: int
    tags: list[tuple[str, str]]
    push_token: str | None
    cert_days_remaining: int | None
    base_ping_ms: float | None
    in_maintenance: bool = False
    beats: deque[Heartbeat] = field(default_factory=lambda: deque(maxlen=RING_SIZE))

    @property
    def last(self) -> Heartbeat | None:
        """The newest beat, if any."""
        return self.beats[-1] if self.beats else None


@dataclass
class ApiKey:
    """An API key ``uk<id>_<secret>``."""

    id: int
    name: str
    key: str
    active: bool
    created: float
