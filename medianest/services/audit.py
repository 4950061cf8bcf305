"""Append-only audit log of admin and security events."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from ..log import REDACTED, current_correlation_id, redact
from ..models import AuditLog

logger = logging.getLogger(__name__)

# A detail whose name says it holds a credential never keeps its value (the audit log is shown
# to admins and exported as CSV).
_SECRET_NAME = re.compile(r"(?i)token|secret|passw|api[_-]?key|apikey|authorization|cookie|credential")


def safe_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` without credentials: values under a credential-like name become ``[redacted]``
    (flags and empty values stay, they tell nothing), and every text is scrubbed like a log line."""
    return {str(key): _safe(key, value) for key, value in details.items()}


def _safe(key: str, value: Any) -> Any:
    if _SECRET_NAME.search(str(key)) and value is not None and not isinstance(value, bool):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return safe_details(value)
    if isinstance(value, list | tuple):
        return [_safe(key, v) for v in value]
    return value


async def record(session: AsyncSession, action: str, *, actor_user_id: int | None = None,
                 target: str | None = None, client_ip: str | None = None, **details: Any) -> None:
    """Add one audit row in the caller's transaction, and a log line. Details never keep a credential
    (see :func:`safe_details`)."""
    kept = safe_details(details)
    session.add(AuditLog(action=action, actor_user_id=actor_user_id, target=target, client_ip=client_ip,
                         correlation_id=current_correlation_id(), details=kept))
    logger.info("audit %s actor=%s target=%s %s", action, actor_user_id, target, kept or "")
