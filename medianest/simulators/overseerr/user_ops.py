"""Overseerr's user endpoints (list, read, settings, permissions, import from Plex) as
operations on the simulator's state."""

from __future__ import annotations

import math
from typing import Any

from medianest.simulators import fixtures
from medianest.simulators.overseerr.model import (
    ADMIN,
    MANAGE_USERS,
    NO_PERMISSION,
    REQUEST,
    ApiError,
    _has,
    _msg,
    _validation,
)
from medianest.simulators.overseerr.state import OverseerrState
from medianest.simulators.plex import SimError


class UserOps(OverseerrState):
    """Users: list, read, main settings, permissions, import from Plex, removal (tests)."""

    def list_users(self, acting: dict[str, Any], params: Any) -> dict[str, Any]:
        try:
            take, skip = int(params.get("take", 10)), int(params.get("skip", 0))
        except ValueError as exc:
            raise _validation(".query", "should be integer") from exc
        with self._lock:
            full = _has(acting["permissions"], MANAGE_USERS)
            rows = [self.user_json(u, full=full) for u in self.users.values()]
            sort = params.get("sort")
            if sort == "displayname":
                rows.sort(key=lambda u: u["displayName"].lower())
            elif sort == "requests":
                rows.sort(key=lambda u: -u["requestCount"])
            elif sort == "updated":
                rows.sort(key=lambda u: u["updatedAt"], reverse=True)
            else:
                rows.sort(key=lambda u: u["id"])
            return {"pageInfo": {"pages": math.ceil(len(rows) / take), "pageSize": take, "results": len(rows),
                                 "page": math.ceil(skip / take) + 1},
                    "results": rows[skip:skip + take]}

    def get_user(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            return self.user_json(user, full=_has(acting["permissions"], MANAGE_USERS))

    _QUOTA_KEYS = ("movieQuotaLimit", "movieQuotaDays", "tvQuotaLimit", "tvQuotaDays")

    def _settings_target(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        if not _has(acting["permissions"], MANAGE_USERS) and acting["id"] != user_id:
            raise _msg(403, "You do not have permission to view this user's settings.")
        user = self.users.get(user_id)
        if user is None:
            raise _msg(404, "User not found.")
        return user

    def user_settings_main(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        """``GET /user/{id}/settings/main`` (own profile or MANAGE_USERS)."""
        with self._lock:
            user = self._settings_target(acting, user_id)
            data = {"username": user["username"], "email": user["email"], "discordId": None, "locale": "",
                    "region": None, "originalLanguage": None, "watchlistSyncMovies": False,
                    "watchlistSyncTv": False, "globalMovieQuotaLimit": None, "globalMovieQuotaDays": 7,
                    "globalTvQuotaLimit": None, "globalTvQuotaDays": 7}
            data.update({k: user[k] for k in self._QUOTA_KEYS})
            return data

    def set_user_settings_main(self, acting: dict[str, Any], user_id: int, body: dict[str, Any]
                               ) -> dict[str, Any]:
        """``POST /user/{id}/settings/main``: the quota fields change only when a MANAGE_USERS user
        edits someone else (as Overseerr 1.34's route); the owner's settings only by the owner."""
        for key in self._QUOTA_KEYS:
            value = body.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise _validation(f".body.{key}", "should be number")
        with self._lock:
            user = self._settings_target(acting, user_id)
            if user["id"] == 1 and acting["id"] != 1:
                raise _msg(403, "You do not have permission to modify this user's settings.")
            if "username" in body:
                user["username"] = body.get("username") or None
            if _has(acting["permissions"], MANAGE_USERS) and acting["id"] != user["id"]:
                for key in self._QUOTA_KEYS:
                    user[key] = body.get(key)
            user["updatedAt"] = self._now()
            return {"username": user["username"], "discordId": None, "locale": "", "region": None,
                    "originalLanguage": None, "watchlistSyncMovies": False, "watchlistSyncTv": False}

    def user_permissions(self, acting: dict[str, Any], user_id: int) -> dict[str, Any]:
        """``GET /user/{id}/settings/permissions`` (MANAGE_USERS)."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            return {"permissions": user["permissions"]}

    def set_user_permissions(self, acting: dict[str, Any], user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /user/{id}/settings/permissions``: not the owner's, not one's own; only the owner
        grants ADMIN."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        permissions = body.get("permissions")
        if isinstance(permissions, bool) or not isinstance(permissions, int) or permissions < 0:
            raise _validation(".body.permissions", "should be number")
        with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise _msg(404, "User not found.")
            if user["id"] == 1 or acting["id"] == user["id"]:
                raise _msg(403, "You do not have permission to modify this user")
            if permissions & ADMIN and acting["id"] != 1:
                raise _msg(403, "You do not have permission to grant this level of access")
            user["permissions"] = permissions
            user["updatedAt"] = self._now()
            return {"permissions": permissions}

    def import_from_plex(self, acting: dict[str, Any], plex_ids: list[str] | None) -> list[dict[str, Any]]:
        """Create users for Plex friends with access to the server (``fixtures.SHARES``)."""
        if not _has(acting["permissions"], MANAGE_USERS):
            raise ApiError(403, NO_PERMISSION)
        accounts = {a.username: a for a in fixtures.ACCOUNTS}
        friends = [accounts[name] for name in fixtures.SHARES]
        with self._lock:
            known = {u["plexId"] for u in self.users.values()}
            created = []
            for account in friends:
                if account.id in known or (plex_ids is not None and str(account.id) not in plex_ids):
                    continue
                created.append(self.user_json(self._add_user(account, REQUEST)))
            return created

    def remove_user(self, user_id: int) -> None:
        """Forget a user (so import-from-plex can create it again); the owner stays."""
        if user_id == 1:
            raise ValueError("the owner cannot be removed")
        with self._lock:
            if self.users.pop(user_id, None) is None:
                raise SimError(404, f"no user {user_id}")
