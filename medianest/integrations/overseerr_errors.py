"""The typed refusals of Overseerr (see ``overseerr.py``): each is an ``IntegrationRejected`` with a
plain ``user_message``, so none trips the circuit breaker."""

from __future__ import annotations

from ..errors import IntegrationRejected

__all__ = ["AlreadyRequested", "ApiKeyRefused", "OverseerrNotFound", "OverseerrRejected", "RequestNotAllowed"]


class OverseerrRejected(IntegrationRejected):
    default_user_message = "Overseerr refused the request."

    def __init__(self, service: str, status_code: int, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(service, status_code, detail)
        self.server_message = detail
        self.user_message = user_message or self.default_user_message


class AlreadyRequested(OverseerrRejected):
    """The title (or every asked season) is already requested or available."""

    default_user_message = "This title has already been requested."


class RequestNotAllowed(OverseerrRejected):
    """Overseerr said no: missing permission or quota used up (``quota_exceeded``)."""

    default_user_message = "You are not allowed to request this right now."

    @property
    def quota_exceeded(self) -> bool:
        return "quota" in self.server_message.lower()


class OverseerrNotFound(OverseerrRejected):
    """Unknown TMDB id, request or user."""

    default_user_message = "That title could not be found."


class ApiKeyRefused(OverseerrRejected):
    """A call made as MediaNest itself (no ``X-Api-User``) was refused as unauthenticated: the
    API key is wrong or missing (Overseerr treats a wrong key as anonymous, §3.1 and §3.15)."""

    default_user_message = ("Overseerr refused MediaNest's API key, so it cannot be used right now. "
                            "An admin can correct the key under Admin → Services.")
