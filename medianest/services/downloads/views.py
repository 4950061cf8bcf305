"""Downloads as the pages show them: typed view models built from the rows (and the live
progress the bridge lays over them), the admin's filters and the queue."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...integrations import ytdlp
from ...models import OPEN_ITEM_STATES, DownloadState, ItemState, User, YoutubeDownload, YoutubeDownloadItem
from . import rules, thumbs

PAGE_SIZE = 20


@dataclass(frozen=True)
class ItemRow:
    id: int
    position: int
    title: str
    status: str
    label: str
    tone: str
    percent: int
    detail: str      # "12.3 MB of 40 MB · 2.1 MB/s · 0:14 left"
    error: str
    can_retry: bool
    can_cancel: bool


@dataclass(frozen=True)
class DownloadCard:
    id: int
    title: str
    kind: str
    member: str
    uploader: str
    thumb: str
    quality: str
    status: str
    label: str
    tone: str
    note: str
    count_label: str  # "7 of 12"
    percent: int
    done: int
    total: int
    failed: int
    items: list[ItemRow]
    can_cancel: bool
    can_retry: bool
    can_remove: bool
    can_sync: bool
    keep_in_sync: bool
    link: str


@dataclass(frozen=True)
class EntryView:
    id: str
    index: int
    title: str
    duration: str


@dataclass(frozen=True)
class PreviewView:
    url: str
    kind: str
    title: str
    uploader: str
    thumb: str
    duration: str
    total: int
    size: str
    truncated: bool
    entries: list[EntryView]


def proxied_thumb(url: str | None) -> str:
    """Thumbnails go through MediaNest's image route, like posters (see ``thumbs``)."""
    return thumbs.proxied(url)


def preview_view(found: ytdlp.Preview) -> PreviewView:
    return PreviewView(
        url=found.webpage_url, kind=found.kind, title=found.title or found.id, uploader=found.uploader or "",
        thumb=proxied_thumb(found.thumbnail_url), duration=rules.human_duration(found.duration_s),
        total=found.total_count or len(found.entries),
        size=rules.human_bytes(found.estimated_bytes) if found.estimated_bytes else "",
        truncated=found.truncated,
        entries=[EntryView(e.id, e.index, e.title or e.id, rules.human_duration(e.duration_s)) for e in found.entries])


def item_row(item: YoutubeDownloadItem) -> ItemRow:
    label = rules.ITEM_LABELS.get(item.status, item.status.title())
    if item.status == ItemState.PAUSED.value and item.error:
        label = item.error
    total = item.total_bytes
    detail = ""
    if item.status in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value) and item.downloaded_bytes:
        detail = (f"{rules.human_bytes(item.downloaded_bytes)} of {rules.human_bytes(total)}" if total
                  else rules.human_bytes(item.downloaded_bytes))
    elif item.status == ItemState.DONE.value and total:
        detail = rules.human_bytes(total)
    pct = 100 if item.status == ItemState.DONE.value else rules.percent(item.downloaded_bytes, total)
    return ItemRow(
        id=item.id or 0, position=item.position, title=item.title, status=item.status, label=label,
        tone=rules.TONES.get(item.status, "gray"), percent=pct, detail=detail,
        error=(item.error or "") if item.status == ItemState.FAILED.value else "",
        can_retry=item.status in (ItemState.FAILED.value, ItemState.CANCELLED.value),
        can_cancel=item.status in OPEN_ITEM_STATES)


def card(download: YoutubeDownload, items: list[YoutubeDownloadItem], member: str) -> DownloadCard:
    rows = [item_row(i) for i in items]
    note = download.note or ""
    if not note and any(i.status == ItemState.PAUSED.value for i in items):
        note = next(i.error or "" for i in items if i.status == ItemState.PAUSED.value)
    return DownloadCard(
        id=download.id or 0, title=download.title, kind=download.kind, member=member,
        uploader=download.uploader or "", thumb=proxied_thumb(download.thumbnail_url),
        quality=rules.QUALITIES.get(download.quality, download.quality), status=download.status,
        note=note, items=rows, keep_in_sync=download.keep_in_sync, link="",
        **_summary(download.status, download.kind, rows))


class _Summary(TypedDict):
    label: str
    tone: str
    count_label: str
    percent: int
    done: int
    total: int
    failed: int
    can_cancel: bool
    can_retry: bool
    can_remove: bool
    can_sync: bool


def _summary(status: str, kind: str, rows: list[ItemRow]) -> _Summary:
    """What a card shows about its items as a whole (its label, "7 of 12", the actions)."""
    done = sum(1 for r in rows if r.status == ItemState.DONE.value)
    failed = sum(1 for r in rows if r.status == ItemState.FAILED.value)
    total = len(rows)
    label = rules.DOWNLOAD_LABELS.get(status, status.title())
    if status == DownloadState.RUNNING.value and not any(
            r.status in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value) for r in rows):
        paused = any(r.status == ItemState.PAUSED.value for r in rows)
        label = "Paused" if paused else "Waiting for a free slot"
    if status == DownloadState.QUEUED.value:
        label = "Queued"
    if status == DownloadState.DONE.value and failed:
        label = f"Done · {failed} failed"
    open_items = any(r.status in OPEN_ITEM_STATES for r in rows)
    return _Summary(
        label=label, tone=rules.TONES.get(status, "gray"), count_label=f"{done} of {total}",
        percent=int(sum(r.percent for r in rows) / total) if total else 0, done=done, total=total, failed=failed,
        can_cancel=open_items,
        can_retry=any(r.can_retry for r in rows) or status == DownloadState.WAITING_PLEX.value,
        can_remove=not open_items and status not in (DownloadState.ADDING.value,),
        can_sync=kind == "playlist" and status in (DownloadState.DONE.value, DownloadState.WAITING_PLEX.value))


def with_item_row(cards: list[DownloadCard], download_id: int, row: ItemRow) -> list[DownloadCard] | None:
    """An item of a running download ended: its row as the database now has it, laid over the
    cards (the card's count and actions follow). None when the cards do not show that item as
    running (not there, or already ended, or queued again by a retry: a late or repeated event),
    and then they are read again."""
    for n, c in enumerate(cards):
        if c.id != download_id:
            continue
        if not any(r.id == row.id and r.status in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value)
                   for r in c.items):
            return None
        rows = [row if r.id == row.id else r for r in c.items]
        return [*cards[:n], replace(c, items=rows, **_summary(c.status, c.kind, rows)), *cards[n + 1:]]
    return None


def with_progress(cards: list[DownloadCard], item_id: int, *, phase: str, downloaded: int | None,
                  total: int | None, speed: float | None, eta: float | None) -> list[DownloadCard]:
    """Lay one live progress event over the cards (the rows catch up at the item's end)."""
    out = []
    for c in cards:
        if not any(r.id == item_id for r in c.items):
            out.append(c)
            continue
        rows = []
        for r in c.items:
            if r.id != item_id or r.status not in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value,
                                                   ItemState.QUEUED.value):
                rows.append(r)
                continue
            processing = phase == "processing"
            parts = [f"{rules.human_bytes(downloaded)} of {rules.human_bytes(total)}" if total
                     else rules.human_bytes(downloaded)]
            if not processing:
                parts += [rules.human_speed(speed), f"{rules.human_duration(eta)} left" if eta else ""]
            rows.append(replace(r, status=ItemState.PROCESSING.value if processing else ItemState.DOWNLOADING.value,
                                label="Processing" if processing else "Downloading", tone="violet" if processing
                                else "blue", percent=100 if processing else rules.percent(downloaded, total),
                                detail=" · ".join(p for p in parts if p)))
        if rows == c.items:  # a late report of an item that has ended: nothing to lay over
            out.append(c)
            continue
        overall = int(sum(r.percent for r in rows) / len(rows)) if rows else 0
        label = c.label if c.status != DownloadState.RUNNING.value else "Downloading"
        out.append(replace(c, items=rows, percent=overall, label=label))
    return out


async def cards_for(session: AsyncSession, *, user_id: int | None, status: str = "", limit: int = PAGE_SIZE
                    ) -> list[DownloadCard]:
    """A member's downloads (``user_id``) or everyone's (None, for admins), newest first."""
    query = select(YoutubeDownload, User.username).join(User, col(User.id) == YoutubeDownload.user_id)
    if user_id is not None:
        query = query.where(YoutubeDownload.user_id == user_id)
    if status:
        query = query.where(YoutubeDownload.status == status)
    rows = (await session.exec(query.order_by(col(YoutubeDownload.id).desc()).limit(limit))).all()
    ids = [d.id for d, _ in rows]
    items = (await session.exec(select(YoutubeDownloadItem).where(col(YoutubeDownloadItem.download_id).in_(ids))
                                .order_by(col(YoutubeDownloadItem.position)))).all() if ids else []
    by_download: dict[int, list[YoutubeDownloadItem]] = {}
    for item in items:
        by_download.setdefault(item.download_id, []).append(item)
    return [card(d, by_download.get(d.id or 0, []), name) for d, name in rows]


@dataclass(frozen=True)
class QueueRow:
    member: str
    running: int
    waiting: int


async def queue(session: AsyncSession) -> list[QueueRow]:
    """Per member: items running and items waiting (queued or paused)."""
    rows = (await session.exec(select(User.username, YoutubeDownloadItem.status)
                               .join(User, col(User.id) == YoutubeDownloadItem.user_id)
                               .where(col(YoutubeDownloadItem.status).in_(OPEN_ITEM_STATES)))).all()
    counts: dict[str, list[int]] = {}
    for name, status in rows:
        entry = counts.setdefault(name, [0, 0])
        entry[0 if status in (ItemState.DOWNLOADING.value, ItemState.PROCESSING.value) else 1] += 1
    return [QueueRow(name, r, w) for name, (r, w) in sorted(counts.items())]
