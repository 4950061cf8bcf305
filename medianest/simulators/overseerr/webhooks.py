"""The Overseerr simulator's webhook agent: the default JSON payload Overseerr posts, and the
sender that posts the payloads in order from one daemon thread."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from medianest.simulators.overseerr.model import (
    _JOIN_TIMEOUT_S,
    MEDIA_STATUS_NAMES,
    WEBHOOK_IMAGE_SIZE,
    _Title,
    _truncate,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Delivery:
    generation: int
    url: str
    authorization: str | None
    payload: dict[str, Any]


class _WebhookSender:
    """Posts webhook payloads in order from one daemon thread; never raises into the caller."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[_Delivery | None] | None = None
        self._generation = 0
        self._pending = 0
        self._sent: list[dict[str, Any]] = []
        self._errors: list[str] = []

    def submit(self, url: str, authorization: str | None, payload: dict[str, Any]) -> None:
        """Queue one POST (starts the sender thread when needed)."""
        with self._cond:
            if self._thread is None or self._queue is None:
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name="overseerr-webhooks",
                                                daemon=True)
                self._thread.start()
            self._pending += 1
            self._queue.put(_Delivery(self._generation, url, authorization, payload))

    def _run(self, deliveries: queue.SimpleQueue[_Delivery | None]) -> None:
        while (delivery := deliveries.get()) is not None:
            self._deliver(delivery)

    def _deliver(self, delivery: _Delivery) -> None:
        with self._cond:
            stale = delivery.generation != self._generation
        record: dict[str, Any] | None = None
        if not stale:
            kind = delivery.payload.get("notification_type")
            headers = {"Authorization": delivery.authorization} if delivery.authorization else {}
            status: int | None = None
            error: str | None = None
            try:
                response = httpx.post(delivery.url, json=delivery.payload, headers=headers, timeout=self.timeout)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error:
                logger.warning("webhook %s to %s failed: %s", kind, delivery.url, error)
            record = {"notification_type": kind, "url": delivery.url, "status_code": status, "ok": error is None,
                      "error": error, "payload": delivery.payload}
        with self._cond:
            if record is not None and delivery.generation == self._generation:
                self._sent.append(record)
                if record["error"]:
                    self._errors.append(f"{record['notification_type']} → {record['url']}: {record['error']}")
            self._pending -= 1
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery is done; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def clear(self) -> None:
        """Forget the log; deliveries still queued are dropped."""
        with self._cond:
            self._generation += 1
            self._sent.clear()
            self._errors.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"sent": [dict(r) for r in self._sent], "errors": list(self._errors), "pending": self._pending}

    def close(self) -> None:
        """Let the thread finish what is queued, then end it."""
        with self._cond:
            thread, deliveries = self._thread, self._queue
            self._thread = self._queue = None
        if thread is not None and deliveries is not None:
            deliveries.put(None)
            if threading.current_thread() is not thread:
                thread.join(_JOIN_TIMEOUT_S)


def webhook_payload(kind: str, req: dict[str, Any], media: dict[str, Any], t: _Title, user: dict[str, Any] | None,
                    display_name: str, image_base: str) -> dict[str, Any]:
    """Overseerr's default webhook payload for ``kind`` about ``req``.

    The shape is the default ``jsonPayload`` of Overseerr 1.34 / Seerr 3.1
    (``server/lib/settings``) filled the way ``WebhookAgent.parseKeys`` fills it: every
    template value is a string, ``issue``/``comment`` are ``null``, ``extra`` holds the
    requested seasons for series.
    """
    what = "Movie" if media["mediaType"] == "movie" else "Series"
    four_k = "4K " if req["is4k"] else ""
    event = {
        "MEDIA_PENDING": f"New {four_k}{what} Request",
        "MEDIA_AUTO_APPROVED": f"{four_k}{what} Request Automatically Approved",
        "MEDIA_APPROVED": f"{four_k}{what} Request Approved",
        "MEDIA_DECLINED": f"{four_k}{what} Request Declined",
        "MEDIA_FAILED": f"{four_k}{what} Request Failed",
        "MEDIA_AVAILABLE": f"{four_k}{what} Request Now Available",
    }[kind]
    extra = [] if media["mediaType"] == "movie" else [
        {"name": "Requested Seasons", "value": ", ".join(str(s["seasonNumber"]) for s in req["seasons"])}]
    return {
        "notification_type": kind,
        "event": event,
        "subject": f"{t.title} ({t.year})",
        "message": _truncate(t.overview),
        "image": f"{image_base}/{WEBHOOK_IMAGE_SIZE}{t.poster_path}",
        "media": {"media_type": media["mediaType"], "tmdbId": str(media["tmdbId"]),
                  "tvdbId": "" if media["tvdbId"] is None else str(media["tvdbId"]),
                  "status": MEDIA_STATUS_NAMES.get(media["status"], ""),
                  "status4k": MEDIA_STATUS_NAMES.get(media["status4k"], "")},
        "request": {"request_id": str(req["id"]),
                    "requestedBy_email": (user or {}).get("email") or "",
                    "requestedBy_username": display_name,
                    "requestedBy_avatar": (user or {}).get("avatar") or "",
                    "requestedBy_settings_discordId": "",
                    "requestedBy_settings_telegramChatId": ""},
        "issue": None,
        "comment": None,
        "extra": extra,
    }
