"""``PlexSim``: the in-memory state shared by the plex.tv and PMS simulators (accounts, pins,
shares, faults and, through its bases, the library), plus the Python API tests drive it with."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import string
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request

from medianest.simulators import fixtures
from medianest.simulators.faults import FaultInjector
from medianest.simulators.plex.common import PLEX_TV_APP, PMS_APP, SimError
from medianest.simulators.plex.models import Account, Pin, Server
from medianest.simulators.plex.scanning import ScanningLibrary

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


class PlexSim(ScanningLibrary):
    """In-memory state shared by the plex.tv and PMS simulators, plus a Python API.

    All public methods are safe to call from another thread than the one running the
    apps' event loop (they take one re-entrant lock and never await while holding it).
    The library's sections, items, collections and scans come from ``ScanningLibrary``
    (``scanning.py``) and ``Library`` (``library.py``).
    """

    def __init__(
        self,
        plex_tv_base_url: str = "http://127.0.0.1:32410",
        pms_base_url: str = "http://127.0.0.1:32400",
        *,
        library_root: str | os.PathLike[str] | None = None,
        downloads_root: str | os.PathLike[str] | None = None,
        strict: bool = False,
        strong_pin_lifetime: int = 1800,
        short_pin_lifetime: int = 900,
        scan_delay: float = 0.5,
        auto_approve: str | None = None,
        auto_approve_after: float = 0.0,
        other_server_url: str = "http://127.0.0.1:9",
    ) -> None:
        """Create the state from the fixtures.

        Args:
            plex_tv_base_url: Where the plex.tv app is served (used in avatar, QR and
                auth-page URLs).
            pms_base_url: Where the PMS app is served (used in resource connections).
            library_root: If set, the sections' folders become ``<root>/Movies``,
                ``<root>/TV Shows`` and ``<root>/YouTube`` (created if missing) so scans read real files.
            downloads_root: If set, the folder of the "YouTube" section (an "Other Videos"
                library, key 3) instead, e.g. MediaNest's downloads root (created if missing).
            strict: Answer 406 on plex.tv JSON endpoints without a JSON ``Accept``.
            strong_pin_lifetime: Seconds a ``strong=true`` pin lives.
            short_pin_lifetime: Seconds a 4-character pin lives.
            scan_delay: Seconds between a refresh request and the import.
            auto_approve: Username that approves every new pin (demo mode).
            auto_approve_after: Seconds after creation the auto-approval happens.
            other_server_url: Connection URI of the owner's second server; the default
                refuses connections at once, like a laptop that is switched off.
        """
        self.plex_tv_base_url = plex_tv_base_url.rstrip("/")
        self.pms_base_url = pms_base_url.rstrip("/")
        self.library_root = Path(library_root) if library_root is not None else None
        self.downloads_root = Path(downloads_root) if downloads_root is not None else None
        self.strict = strict
        self.strong_pin_lifetime = strong_pin_lifetime
        self.short_pin_lifetime = short_pin_lifetime
        self.scan_delay = scan_delay
        self.other_server_url = other_server_url
        self._default_auto_approve = (auto_approve, auto_approve_after)
        self._lock = threading.RLock()
        # One scan at a time, as in Plex: a scan that walked the disk before a file arrived must
        # not trash the item another scan has just imported from it.
        self._scan_lock = threading.Lock()
        self._clock_offset = 0.0
        self._tasks: dict[asyncio.Task[None], int] = {}  # pending scan -> section key
        self.faults: dict[str, FaultInjector] = {
            PLEX_TV_APP: FaultInjector("plex.tv"),
            PMS_APP: FaultInjector("pms"),
        }
        self.reset()

    # ---- lifecycle and clock ---------------------------------------------------------

    def reset(self) -> None:
        """Go back to the fixtures (keeps constructor options, clears faults)."""
        with self._lock:
            self.accounts: dict[str, Account] = {
                a.username: Account(a.id, a.uuid, a.username, a.title, a.email, a.token, a.joined_at)
                for a in fixtures.ACCOUNTS
            }
            self._next_account_id = fixtures.FIRST_DYNAMIC_ACCOUNT_ID
            owner = self.accounts[fixtures.OWNER_USERNAME]
            self.household = Server(fixtures.HOUSEHOLD_NAME, fixtures.HOUSEHOLD_MACHINE_ID, owner.id,
                                    self.pms_base_url, fixtures.FIXTURE_EPOCH - 365 * 86400)
            self.other_servers: list[Server] = [
                Server(fixtures.LAPTOP_NAME, fixtures.LAPTOP_MACHINE_ID, owner.id, self.other_server_url,
                       fixtures.FIXTURE_EPOCH - 30 * 86400),
            ]
            self.shares: dict[str, str] = dict(fixtures.SHARES)
            self.pins: dict[int, Pin] = {}
            self._next_pin_id = 308_000_001
            user, after = self._default_auto_approve
            self.auto_approve_user: str | None = user
            self.auto_approve_after = after
            self._load_library()
            self._clock_offset = 0.0
        for injector in self.faults.values():
            injector.clear()
        logger.info("simulator state reset to fixtures")

    def now(self) -> float:
        """Current simulator time, epoch seconds (wall clock plus ``advance_clock``)."""
        return time.time() + self._clock_offset

    def now_datetime(self) -> datetime:
        """Current simulator time as a UTC-aware datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator clock forward, e.g. to expire pins without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    # ---- accounts and shares ---------------------------------------------------------

    def account(self, username: str) -> Account:
        """Return an account by username.

        Raises:
            SimError: 404 if there is no such account.
        """
        with self._lock:
            try:
                return self.accounts[username]
            except KeyError:
                raise SimError(404, f"unknown user {username!r}") from None

    def account_by_token(self, token: str | None) -> Account | None:
        """Return the account whose plex.tv token is ``token``, if any."""
        if not token:
            return None
        with self._lock:
            for account in self.accounts.values():
                if secrets.compare_digest(account.token, token):
                    return account
        return None

    def account_by_id(self, account_id: int) -> Account | None:
        """Return the account with plex.tv id ``account_id``, if any."""
        with self._lock:
            return next((a for a in self.accounts.values() if a.id == account_id), None)

    @property
    def owner(self) -> Account:
        """The household server's owner."""
        with self._lock:
            found = self.account_by_id(self.household.owner_id)
            assert found is not None  # the owner is never deleted
            return found

    def create_account(self, username: str, email: str | None = None, title: str | None = None) -> Account:
        """Create a plex.tv account with a random token.

        Raises:
            SimError: 400 for an empty username, 409 if it exists.
        """
        username = (username or "").strip()
        if not username:
            raise SimError(400, "username is required")
        with self._lock:
            if username in self.accounts:
                raise SimError(409, f"user {username!r} already exists")
            account = Account(
                id=self._next_account_id,
                uuid=secrets.token_hex(8),
                username=username,
                title=title or username,
                email=email or f"{username}@example.com",
                token=secrets.token_urlsafe(15)[:20],
                joined_at=int(self.now()),
            )
            self._next_account_id += 1
            self.accounts[username] = account
        logger.info("created account %s (id %s)", username, account.id)
        return account

    def add_share(self, username: str) -> str:
        """Share the household server with ``username``; return their server token."""
        with self._lock:
            account = self.account(username)
            if account.id == self.household.owner_id:
                raise SimError(400, "the owner cannot be shared with")
            if username not in self.shares:
                self.shares[username] = secrets.token_urlsafe(15)[:20]
            return self.shares[username]

    def remove_share(self, username: str) -> None:
        """Stop sharing the household server with ``username`` (their token dies)."""
        with self._lock:
            self.account(username)
            if self.shares.pop(username, None) is None:
                raise SimError(404, f"household server is not shared with {username!r}")

    def server_token(self, username: str) -> str | None:
        """The token ``username`` uses on the household PMS, or ``None`` without access."""
        with self._lock:
            account = self.account(username)
            if account.id == self.household.owner_id:
                return account.token
            return self.shares.get(username)

    def pms_token_valid(self, token: str | None) -> bool:
        """Whether ``token`` may use the household PMS."""
        if not token:
            return False
        with self._lock:
            valid = [self.owner.token, *self.shares.values()]
        return any(secrets.compare_digest(token, t) for t in valid)

    # ---- pins ------------------------------------------------------------------------

    def create_pin(self, client_id: str, *, strong: bool, product: str | None = None) -> Pin:
        """Create a pin the way ``POST /api/v2/pins`` does."""
        with self._lock:
            if strong:
                alphabet = string.ascii_lowercase + string.digits
                code = "".join(secrets.choice(alphabet) for _ in range(25))
                lifetime = self.strong_pin_lifetime
            else:
                alphabet = string.ascii_uppercase + string.digits
                code = "".join(secrets.choice(alphabet) for _ in range(4))
                lifetime = self.short_pin_lifetime
            now = self.now()
            pin = Pin(self._next_pin_id, code, client_id, product, now, now + lifetime)
            self._next_pin_id += 1
            if self.auto_approve_user:
                pin.auto_user = self.auto_approve_user
                pin.auto_at = now + self.auto_approve_after
            self.pins[pin.id] = pin
            return pin

    def _live_pin(self, pin: Pin | None) -> Pin | None:
        """Apply expiry and pending auto-approval; ``None`` if gone."""
        if pin is None:
            return None
        now = self.now()
        if now >= pin.expires_at:
            return None
        if (pin.approved_by is None and pin.auto_user and pin.auto_at is not None and now >= pin.auto_at
                and pin.auto_user in self.accounts):
            pin.approved_by = pin.auto_user
            logger.info("pin %s auto-approved as %s", pin.id, pin.auto_user)
        return pin

    def get_pin(self, pin_id: int) -> Pin | None:
        """Return a live pin by id (``None`` if unknown or expired)."""
        with self._lock:
            return self._live_pin(self.pins.get(pin_id))

    def get_pin_by_code(self, code: str) -> Pin | None:
        """Return a live pin by code (``None`` if unknown or expired)."""
        with self._lock:
            return self._live_pin(next((p for p in self.pins.values() if p.code == code), None))

    def approve_pin(self, pin_id: int, username: str) -> Pin:
        """Play the user approving pin ``pin_id`` in app.plex.tv.

        Raises:
            SimError: 404 for an unknown user or an unknown/expired pin.
        """
        with self._lock:
            self.account(username)
            pin = self.get_pin(pin_id)
            if pin is None:
                raise SimError(404, f"pin {pin_id} not found or expired")
            pin.approved_by = username
        logger.info("pin %s approved as %s", pin_id, username)
        return pin

    def approve_pin_by_code(self, code: str, username: str) -> Pin:
        """Like ``approve_pin`` but by the pin's code (what the auth page knows)."""
        with self._lock:
            pin = self.get_pin_by_code(code)
            if pin is None:
                self.account(username)
                raise SimError(404, "code not found or expired")
            return self.approve_pin(pin.id, username)

    def deny_pin_by_code(self, code: str) -> Pin:
        """Record that the user pressed Cancel; the pin simply stays unapproved."""
        with self._lock:
            pin = self.get_pin_by_code(code)
            if pin is None:
                raise SimError(404, "code not found or expired")
            pin.denied = True
            return pin

    def set_auto_approve(self, username: str | None, after_seconds: float = 0.0) -> None:
        """Approve every *new* pin as ``username`` after ``after_seconds``; ``None`` stops it."""
        with self._lock:
            if username is not None:
                self.account(username)
            if after_seconds < 0:
                raise SimError(400, "after_seconds must be >= 0")
            self.auto_approve_user = username
            self.auto_approve_after = float(after_seconds)

    # ---- faults ----------------------------------------------------------------------

    def set_faults(self, app: str, **config: Any) -> None:
        """Configure faults of ``app`` (``"plex_tv"`` or ``"pms"``); see ``FaultInjector.set``."""
        self.faults[app].set(**config)

    def clear_faults(self, app: str | None = None) -> None:
        """Clear the faults of one app, or of both."""
        for name, injector in self.faults.items():
            if app is None or app == name:
                injector.clear()

    # ---- introspection ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a test may want to check, as JSON-ready data."""
        with self._lock:
            return {
                "accounts": [
                    {"id": a.id, "uuid": a.uuid, "username": a.username, "title": a.title, "email": a.email,
                     "authToken": a.token, "serverToken": self.server_token(a.username)}
                    for a in self.accounts.values()
                ],
                "shares": [{"user": u, "accessToken": t} for u, t in self.shares.items()],
                "server": {"name": self.household.name, "machineIdentifier": self.household.machine_id,
                           "owner": self.owner.username, "url": self.household.url},
                "otherServers": [{"name": s.name, "machineIdentifier": s.machine_id,
                                  "owner": getattr(self.account_by_id(s.owner_id), "username", None),
                                  "url": s.url} for s in self.other_servers],
                "pins": [
                    {"id": p.id, "code": p.code, "clientIdentifier": p.client_id, "approvedBy": p.approved_by,
                     "denied": p.denied, "expired": self.now() >= p.expires_at}
                    for p in self.pins.values()
                ],
                "autoApprove": {"user": self.auto_approve_user, "after_seconds": self.auto_approve_after},
                "strict": self.strict,
                "sections": [
                    {"key": s.key, "title": s.title, "type": s.type, "locations": s.locations,
                     "refreshing": s.running_scans > 0,
                     "itemCount": sum(1 for i in self.items.values() if i.section_key == s.key
                                      and i.type in ("movie", "show"))}
                    for s in self.sections.values()
                ],
                "collections": [
                    {"ratingKey": c.rating_key, "title": c.title, "sectionKey": c.section_key,
                     "items": list(c.members)} for c in self.collections.values()
                ],
                "faults": {name: inj.snapshot() for name, inj in self.faults.items()},
            }


def sim_of(request: Request) -> PlexSim:
    """The state behind the app serving ``request`` (``create_plex_tv_app``/``create_pms_app`` put it
    in ``app.state``), so that route handlers can be plain module-level functions."""
    sim: PlexSim = request.app.state.sim
    return sim
