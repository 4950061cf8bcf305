"""Typed errors raised by services and clients, mapped to user-facing answers at the edge."""

from __future__ import annotations


class MediaNestError(Exception):
    """Base class: ``user_message`` is a plain sentence that is safe to show to a member."""

    user_message = "Something went wrong."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message = user_message or self.user_message
        super().__init__(detail or self.user_message)


class NotAuthenticated(MediaNestError):
    """No valid session: the caller must sign in."""

    user_message = "Please sign in to continue."

    def __init__(self, user_message: str | None = None, *, next_path: str = "/") -> None:
        super().__init__(user_message)
        self.next_path = next_path


class Forbidden(MediaNestError):
    """Signed in, but not allowed to do this."""

    user_message = "You do not have permission to do that."


class PasswordChangeRequired(MediaNestError):
    """The local admin still uses the bootstrap password."""

    user_message = "Choose a new password before you continue."


class AccessDenied(MediaNestError):
    """A Plex account that must not use this MediaNest (no access, suspended...)."""

    def __init__(self, user_message: str, *, reason: str) -> None:
        super().__init__(user_message)
        self.reason = reason


class RateLimited(MediaNestError):
    """Too many attempts; ``retry_after`` is in seconds."""

    def __init__(self, user_message: str, *, retry_after: int) -> None:
        super().__init__(user_message)
        self.retry_after = retry_after


class ValidationFailed(MediaNestError):
    """Bad input from the user; nothing was changed."""


class NotFound(MediaNestError):
    user_message = "That no longer exists."


class InvalidToken(MediaNestError):
    """A token that is malformed, tampered with, expired or of the wrong kind."""

    user_message = "Your sign-in link is not valid any more."


class DecryptionError(MediaNestError):
    """Encrypted data could not be read with any configured key."""

    user_message = "Stored credentials cannot be read; check ENCRYPTION_KEY."


class IntegrationUnavailable(MediaNestError):
    """An external service did not answer usefully."""

    def __init__(self, service: str, detail: str = "", *, status_code: int | None = None) -> None:
        self.service = service
        self.status_code = status_code
        super().__init__(f"{service} is not answering right now. Please try again in a moment.",
                         detail=f"{service}: {detail}" if detail else service)


class CircuitOpen(IntegrationUnavailable):
    """The circuit breaker refused the call: nothing was sent to the service."""


class IntegrationRejected(MediaNestError):
    """An external service answered, but refused (bad token, not found...)."""

    def __init__(self, service: str, status_code: int, detail: str = "") -> None:
        self.service = service
        self.status_code = status_code
        super().__init__(f"{service} refused the request.", detail=f"{service} {status_code}: {detail}")
