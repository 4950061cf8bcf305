"""The one base every external client sits on: timeouts, headers, a circuit breaker,
and the mapping of transport failures to :class:`IntegrationUnavailable`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import httpx
import pybreaker

from ..errors import CircuitOpen, IntegrationRejected, IntegrationUnavailable
from ..log import register_secrets

logger = logging.getLogger(__name__)

_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_defaults = {"fail_max": 5, "reset_timeout": 30.0}
# Listeners every breaker gets, present and future (``breaker_sync`` reports state changes).
_listeners: list[pybreaker.CircuitBreakerListener] = []


def configure_breakers(*, fail_max: int, reset_timeout: float) -> None:
    """Thresholds for breakers created from now on, and for the existing ones."""
    _defaults.update(fail_max=fail_max, reset_timeout=reset_timeout)
    for breaker in _breakers.values():
        breaker.fail_max, breaker.reset_timeout = fail_max, reset_timeout


def reset_breakers(*names: str) -> None:
    """Close these services' breakers with their failure counts at zero. Called when a service's
    address or credentials change, so that failures of the old values refuse nothing. The breaker
    objects stay (with their listeners: closing one after an outage releases the waiting requests)."""
    for name in names:
        breaker = _breakers.get(name)
        if breaker is not None:
            breaker.close()


def breaker_for(name: str, *, fail_max: int | None = None,
                reset_timeout: float | None = None) -> pybreaker.CircuitBreaker:
    """One breaker per external system per process, shared by every client instance."""
    breaker = _breakers.get(name)
    if breaker is None:
        fail_max = fail_max or int(_defaults["fail_max"])
        reset_timeout = reset_timeout or float(_defaults["reset_timeout"])
        # 4xx answers mean the service is up; only transport errors and 5xx trip the breaker.
        breaker = pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_timeout,
                                           exclude=[IntegrationRejected], name=name, listeners=list(_listeners))
        _breakers[name] = breaker
    return breaker


def watch_breakers(listener: pybreaker.CircuitBreakerListener) -> None:
    """Give ``listener`` every breaker of this process, those made so far and those to come."""
    if listener not in _listeners:
        _listeners.append(listener)
    for breaker in _breakers.values():
        if listener not in breaker.listeners:
            breaker.add_listener(listener)


def reset_breaker(name: str) -> bool:
    """Close this process's breaker of ``name`` and forget its failures; False when this process
    never made one (nothing to reset)."""
    breaker = _breakers.get(name)
    if breaker is None:
        return False
    breaker.close()  # pybreaker's closed state zeroes the failure count and tells the listeners
    return True


def breaker_error(service: str, exc: pybreaker.CircuitBreakerError, *, sent: bool) -> IntegrationUnavailable:
    """The error for a ``CircuitBreakerError``. pybreaker raises it both when it refuses a call and
    when this call's own failure trips it; only a refusal (``sent`` false) means nothing reached
    the service, which callers that retry need to know (:class:`CircuitOpen`)."""
    if not sent:
        return CircuitOpen(service, "circuit open")
    return IntegrationUnavailable(service, f"failed and opened the circuit: {exc.__context__!r}")


def int_or_none(value: Any) -> int | None:
    """An integer from a JSON value (numbers or numeric strings); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _pooled_client() -> httpx.AsyncClient:
    """One connection pool per event loop, shared by every client of every service: building an
    ``httpx.AsyncClient`` loads the CA bundle (tens of ms of CPU, blocking the loop) and a fresh
    one cannot keep connections alive."""
    loop = asyncio.get_running_loop()
    client = _pools.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(
            # Idle connections are dropped before the servers drop them (Node's and uvicorn's
            # keep-alive timeout is 5 s), so a request rarely lands on a connection being closed.
            max_connections=200, max_keepalive_connections=40, keepalive_expiry=2.0))
        _pools[loop] = client
    return client


_CREDENTIAL_HEADERS = {"x-plex-token", "x-api-key", "authorization", "cookie"}


def _hide_credentials(headers: dict[str, str] | None) -> None:
    """Tokens read from the database (members' Plex tokens, stored API keys) are not in the
    settings; registering them keeps them out of every log line, whatever the context."""
    if headers:
        register_secrets(v for k, v in headers.items() if k.lower() in _CREDENTIAL_HEADERS and isinstance(v, str))


def breaker_states() -> dict[str, str]:
    return {name: b.current_state for name, b in _breakers.items()}


@dataclass(frozen=True)
class BreakerState:
    """One breaker of this process as it is now."""

    name: str
    state: str                  # closed | open | half-open
    failures: int               # consecutive failures counted towards opening
    fail_max: int
    opened_at: datetime | None  # when it last opened (kept by pybreaker after it closes again)


def breaker_details() -> list[BreakerState]:
    # pybreaker keeps the opening time only in its state storage (no public property for it).
    return [BreakerState(name=name, state=b.current_state, failures=b.fail_counter, fail_max=b.fail_max,
                         opened_at=b._state_storage.opened_at) for name, b in sorted(_breakers.items())]


class ClientOptions(TypedDict, total=False):
    """The keyword arguments a subclass passes on to :class:`BaseClient` (``**kwargs: Unpack[ClientOptions]``)."""

    timeout: float
    breaker: pybreaker.CircuitBreaker | None
    transport: httpx.AsyncBaseTransport | None


class BaseClient:
    """Small async HTTP client wrapper. Subclasses set ``service`` and add typed methods."""

    service = "service"

    def __init__(self, base_url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None,
                 breaker: pybreaker.CircuitBreaker | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **(headers or {})}
        _hide_credentials(headers)
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._breaker = breaker or breaker_for(self.service)
        self._transport = transport

    @property
    def timeout_s(self) -> float:
        """How long one HTTP exchange may wait for an answer (callers size their leases on it)."""
        return float(self._timeout.read or 0)

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        """The pooled client, or a private one around a test's custom transport."""
        if self._transport is None:
            yield _pooled_client()
            return
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport,
                                     follow_redirects=False) as client:
            yield client

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange. A GET that meets a kept-alive connection the server has just closed
        is sent once more on a fresh one (safe: GETs change nothing)."""
        async with self._http() as client:
            try:
                return await client.request(method, url, timeout=self._timeout, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if method not in ("GET", "HEAD"):
                    raise
                return await client.request(method, url, timeout=self._timeout, **kwargs)

    async def _request(self, method: str, path: str, *, expected: tuple[int, ...] = (200,),
                       headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request through the breaker.

        Raises:
            IntegrationUnavailable: timeouts, connection errors, 5xx, breaker open.
            IntegrationRejected: any other status not in ``expected``.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        sent = False
        _hide_credentials(headers)
        try:
            with self._breaker.calling():
                sent = True
                response = await self._send(method, url, headers={**self._headers, **(headers or {})}, **kwargs)
                if response.status_code >= 500:
                    raise IntegrationUnavailable(self.service, f"HTTP {response.status_code}",
                                                 status_code=response.status_code)
                if response.status_code not in expected:
                    raise IntegrationRejected(self.service, response.status_code, response.text[:200])
                return response
        except pybreaker.CircuitBreakerError as exc:
            raise breaker_error(self.service, exc, sent=sent) from exc
        except httpx.TimeoutException as exc:
            raise IntegrationUnavailable(self.service, f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(self.service, f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _json(response: httpx.Response, service: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise IntegrationUnavailable(service, "malformed JSON body") from exc
