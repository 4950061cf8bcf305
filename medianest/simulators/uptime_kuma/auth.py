"""Uptime Kuma's authentication in the simulator: API keys and Basic auth of ``/metrics``, and
the socket logins (password, token, rate limit, refusal)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from typing import Any

from medianest.simulators.uptime_kuma.hub import running_loop
from medianest.simulators.uptime_kuma.model import (
    _LOGIN_FAILED,
    _LOGIN_WINDOW_SECONDS,
    _RATE_LIMITED,
    _TOKEN_FAILED,
    _login_token,
)
from medianest.simulators.uptime_kuma.state import KumaState

logger = logging.getLogger(__name__)


class KumaAuth(KumaState):
    """API keys, ``/metrics`` credentials, socket logins and dropping connections."""

    def api_key_valid(self, presented: str | None) -> bool:
        """Whether ``presented`` is an active API key."""
        match = re.fullmatch(r"uk(\d+)_(.+)", presented or "")
        if not match:
            return False
        with self._lock:
            key = self.api_keys.get(int(match.group(1)))
            return bool(key and key.active and hmac.compare_digest(key.key, presented or ""))

    def metrics_auth_ok(self, username: str, password: str) -> bool:
        """Kuma's ``apiAuth``: API keys once one exists, else the admin's password."""
        with self._lock:
            if self.api_keys_enabled:
                return self.api_key_valid(password)
            return hmac.compare_digest(username, self.username) and hmac.compare_digest(password, self.password)

    @property
    def token(self) -> str:
        """The admin's login JWT (deterministic; changes only with the password)."""
        return _login_token(self.username, self.password)

    def login(self, data: Any) -> dict[str, Any]:
        """Answer a socket ``login`` (the ack payload)."""
        with self._lock:
            now = time.monotonic()
            while self._login_times and now - self._login_times[0] > _LOGIN_WINDOW_SECONDS:
                self._login_times.popleft()
            if len(self._login_times) >= self.login_rate_limit:
                return dict(_RATE_LIMITED)
            self._login_times.append(now)
            data = data if isinstance(data, dict) else {}
            username, password = data.get("username"), data.get("password")
            if (self.refuse_logins or not isinstance(username, str) or not isinstance(password, str)
                    or not hmac.compare_digest(username, self.username)
                    or not hmac.compare_digest(password, self.password)):
                logger.info("socket login refused for %r", username)
                return dict(_LOGIN_FAILED[self.version])
            return {"ok": True, "token": self.token}

    def login_by_token(self, token: Any) -> dict[str, Any]:
        """Answer a socket ``loginByToken`` (the ack payload)."""
        with self._lock:
            if self.refuse_logins or not isinstance(token, str) or not hmac.compare_digest(token, self.token):
                return dict(_TOKEN_FAILED[self.version])
            return {"ok": True}

    def refuse_socket_logins(self, refuse: bool = True) -> None:
        """Make every socket login (password or token) fail, to test the fallback."""
        with self._lock:
            self.refuse_logins = bool(refuse)

    def disconnect_all_sockets(self) -> int:
        """Drop every Socket.IO connection (clients may reconnect).

        Returns:
            How many connections were open.
        """
        hub = self._hub
        if hub is None or hub.loop is None or hub.loop.is_closed():
            return 0
        count = len(hub.sids)
        if running_loop() is hub.loop:
            hub.spawn(hub.disconnect_all())
            return count
        future = asyncio.run_coroutine_threadsafe(hub.disconnect_all(), hub.loop)
        return future.result(timeout=5)
