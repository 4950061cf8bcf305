"""Append-only audit log of admin and security events."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from ..log import current_correlation_id
from ..models import AuditLog

logger = logging.getLogger(__name__)


async def record(session: AsyncSession, action: str, *, actor_user_id: int | None = None,
                 target: str | None = None, client_ip: str | None = None, **details: Any) -> None:
    """Add one audit row in the caller's transaction, and a log line."""
    session.add(AuditLog(action=action, actor_user_id=actor_user_id, target=target, client_ip=client_ip,
                         correlation_id=current_correlation_id(), details=details))
    logger.info("audit %s actor=%s target=%s %s", action, actor_user_id, target, details or "")
