"""The status board as browsers show it: one typed card per service, formatted once per change
(not once per open tab), and the outages the banner on every page lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .service_status import ServiceCard

LABELS = {"up": "Up", "down": "Down", "pending": "Pending", "maintenance": "Maintenance"}


@dataclass(frozen=True)
class CardView:
    key: str
    name: str
    status: str
    label: str
    stale: bool
    response: str
    uptime_24h: str
    uptime_30d: str
    checked_at: str
    since: str
    url: str
    message: str
    source: str
    #: The sparkline's points (``{"i": index, "ms": response time}``).
    history: tuple[dict[str, int], ...] = ()


def card_view(card: ServiceCard) -> CardView:
    return CardView(
        key=card.key, name=card.name, status=card.status,
        label="Stale" if card.stale else LABELS.get(card.status, "Unknown"), stale=card.stale,
        response=f"{card.response_time_ms} ms" if card.response_time_ms is not None else "–",
        uptime_24h=f"{card.uptime_24h * 100:.2f}%" if card.uptime_24h is not None else "–",
        uptime_30d=f"{card.uptime_30d * 100:.2f}%" if card.uptime_30d is not None else "–",
        checked_at=card.last_check_at.isoformat() if card.last_check_at else "",
        since=card.status_since.isoformat() if card.status_since else "",
        url=card.url or "", message=card.message or "", source=card.source,
        history=tuple({"i": i, "ms": ms} for i, ms in enumerate(card.history_ms)),
    )


def to_json(view: CardView) -> dict[str, Any]:
    """A card as it travels on the live event stream (plain JSON)."""
    return dataclasses.asdict(view)


def from_json(data: Mapping[str, Any]) -> CardView:
    """A card back from the live event stream; unknown keys are ignored."""
    names = {f.name for f in dataclasses.fields(CardView)}
    values = {k: v for k, v in data.items() if k in names}
    values["history"] = tuple(values.get("history") or ())
    return CardView(**values)


def outages(views: Iterable[CardView]) -> list[CardView]:
    """Services that are down now (a stale "down" is not known to be down)."""
    return [v for v in views if v.status == "down" and not v.stale]
