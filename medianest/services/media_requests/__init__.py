"""Requests of movies and shows through Overseerr, acting as the member.

The lifecycle of a MediaNest request row (``media_requests``):

* ``submit`` checks the input and MediaNest's own hourly limit, **writes the row (queued) and
  commits it**, then tries to deliver it at once.
* ``deliver`` sends it to Overseerr with ``X-Api-User`` = the member's Overseerr user, so the
  member's permissions, quota and auto-approval decide. Each attempt holds a short lease on the
  row (``delivery_lease``: no longer than the attempt itself may take), so an attempt cut short by
  a killed worker or a database blip is retried within about one retry interval. Overseerr
  unreachable: the row stays queued with ``next_attempt_at`` backed off exponentially, and
  ``deliver_due`` (a scheduled task) tries again; an attempt the circuit breaker refused sent
  nothing and does not count. When Overseerr answers again (a delivery gets through, the status
  check, the breaker closing, a webhook) ``release_waiting`` makes the waiting rows due at once.
  A 409/403/unknown title ends it with a plain reason. A delivery whose answer was lost is
  recognised on the retry (the member's own request of the title is looked for before sending
  again, and after a 409), so nothing is sent twice.
* ``sync_open`` (scheduled, and per request from the webhook) follows Overseerr's status
  (pending → approved → processing → available, declined, failed) and notifies the member, and
  followers of the title, when it becomes available.

Every change is committed before ``notifications.announce`` tells open tabs to reload.

Modules (each imports only those above it): ``common`` (the draft, status mapping), ``members``
(the member's Overseerr user), ``delivery`` (submit, deliver, retries), ``sync`` (following
Overseerr's status, followed titles becoming available), ``following`` (follow/unfollow; not
named ``follows``, which would be shadowed by the ``follows`` function this package exports),
``queries`` (the lists and an admin's decision). Callers use the names re-exported here.
"""

from __future__ import annotations

from .common import Draft, status_from_overseerr
from .delivery import (
                       ATTEMPT_TIMEOUTS,
                       MIN_LEASE_S,
                       RETRY_BASE_S,
                       UNREACHABLE_NOTE,
                       Outcome,
                       check_hourly_limit,
                       deliver,
                       deliver_due,
                       delivery_lease,
                       release_waiting,
                       submit,
                       validate_draft,
)
from .following import follow, follows, unfollow
from .members import (
                       NO_USER_RECHECK,
                       USER_MAP_TTL,
                       NotInOverseerr,
                       import_member,
                       members_without_overseerr,
                       overseerr_user_id,
)
from .queries import MAX_REASON, PAGE_SIZE, STATUS_FILTERS, STATUS_LABELS, RequestRow, decide, list_requests
from .sync import SYNCED_STATUSES, apply_overseerr, sync_by_overseerr_id, sync_follows, sync_open

__all__ = [
    "ATTEMPT_TIMEOUTS", "UNREACHABLE_NOTE", "MAX_REASON", "MIN_LEASE_S", "NO_USER_RECHECK", "PAGE_SIZE", "RETRY_BASE_S",
    "STATUS_FILTERS",
    "STATUS_LABELS", "SYNCED_STATUSES", "USER_MAP_TTL", "Draft", "NotInOverseerr", "Outcome", "RequestRow",
    "apply_overseerr", "check_hourly_limit", "decide", "deliver", "deliver_due", "delivery_lease", "follow",
    "follows", "import_member", "list_requests", "members_without_overseerr", "overseerr_user_id",
    "release_waiting", "status_from_overseerr", "submit", "sync_by_overseerr_id", "sync_follows", "sync_open",
    "unfollow", "validate_draft",
]
