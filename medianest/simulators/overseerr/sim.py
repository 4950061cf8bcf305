"""``OverseerrSim``: the Overseerr simulator's state with every operation on it."""

from __future__ import annotations

from medianest.simulators.overseerr.availability import AvailabilityOps
from medianest.simulators.overseerr.user_ops import UserOps


class OverseerrSim(AvailabilityOps, UserOps):
    """In-memory Overseerr: users, TMDB catalogue, media rows and requests (thread-safe)."""


__all__ = ["OverseerrSim"]
