"""The admin's Jobs page: every schedule (interval, last run, last result, next run) with "Run
now", the task queue per kind, and the request deliveries and downloaded videos that failed,
each with "Retry" (through the same service functions the members' pages use).

What the task processes did is recorded by ``metrics.TaskMetricsMiddleware`` (see ``job_runs``);
the schedules are listed here, and ``tasks/registry.py`` hands them to the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .. import live
from ..config import Settings
from ..db import as_utc
from ..errors import IntegrationUnavailable, NotFound, ValidationFailed
from ..models import (
    ItemState,
    MediaRequest,
    RequestStatus,
    User,
    YoutubeDownload,
    YoutubeDownloadItem,
    utcnow,
)
from . import audit, job_runs, notifications
from .auth import CurrentUser
from .downloads import members as download_members
from .downloads.runner import announce as announce_download
from .media_requests import delivery_lease

logger = logging.getLogger(__name__)

#: Sends one run of a task by name (``tasks/run_now.py``); raises when the queue cannot be reached.
Kick = Callable[[str], Awaitable[None]]
#: Queues download items as tasks (``tasks/downloads.queue_items``).
QueueItems = Callable[[list[int]], Awaitable[None]]

FAILED_LIMIT = 50
#: Refused requests older than this are no longer listed as failed deliveries.
REFUSED_WINDOW = timedelta(days=7)
DELIVER_TASK = "requests.deliver"


@dataclass(frozen=True)
class Schedule:
    task_name: str
    interval_s: int
    label: str
    why: str


def schedules(settings: Settings) -> list[Schedule]:
    """Every recurring job MediaNest runs (the issue's five kinds, and the downloads watchdog)."""
    return [
        Schedule("status.check", settings.status_check_interval_s, "Status checks", "check every service's status"),
        Schedule("requests.sync", settings.request_sync_interval_s, "Request sync",
                 "follow the status of open requests in Overseerr"),
        Schedule("requests.deliver", settings.request_retry_interval_s, "Request retry",
                 "send queued requests to Overseerr"),
        Schedule("downloads.sync", 15 * 60, "Playlist sync", "download new entries of playlists kept in sync"),
        Schedule("downloads.watchdog", 30, "Downloads watchdog", "requeue downloads of vanished workers, resume "
                                                                 "paused ones, finish those waiting for Plex"),
        Schedule("status.prune", 6 * 3600, "Cleanup: status history",
                 f"drop status history older than {settings.status_history_days} days"),
        Schedule("sessions.prune", 24 * 3600, "Cleanup: ended sessions",
                 "drop sessions that ended more than 30 days ago"),
    ]


#: What a task's return value counts, by task.
RESULTS = {
    "status.check": "{} services changed state", "status.prune": "{} history rows removed",
    "sessions.prune": "{} sessions removed", "requests.deliver": "{} requests tried",
    "requests.sync": "{} members saw a change", "downloads.watchdog": "{} videos queued again",
    "downloads.sync": "{} new videos", "downloads.item": "{}", "downloads.plex": "{}",
}
TASK_LABELS = {"downloads.item": "Download a video", "downloads.plex": "Add a download to Plex"}


@dataclass(frozen=True)
class ScheduleRow:
    task_name: str
    label: str
    why: str
    every: str
    #: The last finished run: when it started (ISO), "success" / "error" / "" (none yet), what it did.
    last_at: str
    last_state: str
    last_result: str
    last_seconds: str
    last_trigger: str
    #: The admin's last "Run now": "", "waiting", "running", "success", "error" or "lost".
    manual_state: str
    manual_at: str
    manual_result: str
    running: int
    running_since: str
    #: When the scheduler sends it next (ISO; "" until the scheduler has sent it once).
    next_at: str
    #: The next run is overdue by more than an interval: is the scheduler running?
    late: bool
    dom_id: str


@dataclass(frozen=True)
class QueueRow:
    task_name: str
    label: str
    waiting: int
    running: int
    dom_id: str


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    title: str
    member: str
    status: str
    label: str
    error: str
    attempts: int
    next_at: str
    updated_at: str


@dataclass(frozen=True)
class FailedDownload:
    item_id: int
    download_id: int
    title: str
    download_title: str
    member: str
    error: str
    failed_at: str


@dataclass(frozen=True)
class JobsOverview:
    schedules: list[ScheduleRow]
    queue: list[QueueRow]
    queue_note: str
    deliveries: list[FailedDelivery]
    downloads: list[FailedDownload]


def every(seconds: int) -> str:
    if seconds % 86400 == 0:
        return "every day" if seconds == 86400 else f"every {seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return "every second" if seconds == 1 else f"every {seconds} s"


def _dom_id(prefix: str, task: str) -> str:
    return f"{prefix}-{task.replace('.', '-')}"


def _result(task: str, run: job_runs.Run | None) -> str:
    if run is None or not run.result:
        return ""
    if run.state == "success" and run.result.lstrip("-").isdigit():
        return RESULTS.get(task, "{}").format(run.result)
    return run.result


def _trigger(run: job_runs.Run | None) -> str:
    if run is None:
        return ""
    return {job_runs.SCHEDULE: "scheduled", job_runs.MANUAL: "Run now"}.get(run.trigger, "queued")


def schedule_rows(items: list[Schedule], runs: job_runs.Activity, *, now: datetime) -> list[ScheduleRow]:
    rows = []
    for item in items:
        last = runs.last.get(item.task_name)
        manual = runs.manual.get(item.task_name)
        running = sorted(r.at for r in runs.running.get(item.task_name, []))
        sent = job_runs.when(runs.sent.get(item.task_name, ""))
        upcoming = sent + timedelta(seconds=item.interval_s) if sent is not None else None
        rows.append(ScheduleRow(
            task_name=item.task_name, label=item.label, why=item.why, every=every(item.interval_s),
            last_at=last.at if last else "", last_state=last.state if last else "",
            last_result=_result(item.task_name, last),
            last_seconds=f"{last.seconds:.2f} s" if last and last.seconds is not None else "",
            last_trigger=_trigger(last), manual_state=manual.state if manual else "",
            manual_at=manual.at if manual else "", manual_result=_result(item.task_name, manual),
            running=len(running), running_since=running[0] if running else "",
            next_at=upcoming.isoformat() if upcoming else "",
            late=upcoming is not None and now - upcoming > timedelta(seconds=max(item.interval_s, 30)),
            dom_id=_dom_id("job", item.task_name)))
    return rows


def queue_rows(items: list[Schedule], runs: job_runs.Activity,
               stream: job_runs.StreamQueue | None) -> list[QueueRow]:
    """Per kind of task: waiting (in the stream, or taken by a worker and not started) and running."""
    labels = {s.task_name: s.label for s in items} | TASK_LABELS
    running = {task: len(found) for task, found in runs.running.items()}
    waiting = dict(runs.waiting)
    if stream is not None:
        waiting = {task: stream.waiting.get(task, 0) + max(0, stream.taken.get(task, 0) - running.get(task, 0))
                   for task in set(stream.waiting) | set(stream.taken)}
    kinds = sorted({t for t, n in waiting.items() if n} | {t for t, n in running.items() if n})
    return [QueueRow(task_name=task, label=labels.get(task, task), waiting=waiting.get(task, 0),
                     running=running.get(task, 0), dom_id=_dom_id("queue", task)) for task in kinds]


def _queue_note(settings: Settings, stream: job_runs.StreamQueue | None, known: bool) -> str:
    if not settings.redis_url:
        return ("Embedded mode: tasks run inside the web process and start as soon as they are sent (up to 30 at "
                "once), so this shows what was sent and has not started yet, and what runs.")
    if not known or stream is None:
        return "Redis is not answering: the runs and the queue are unknown right now."
    note = f"From the task stream: {stream.workers} worker(s) reading it."
    if stream.workers == 0:
        note += " No worker is reading it, so tasks wait until one starts."
    if not stream.complete:
        note += f" Only the oldest {job_runs.SCAN_LIMIT} waiting tasks are counted by kind."
    return note


async def _activity(settings: Settings) -> tuple[job_runs.Activity, job_runs.StreamQueue | None]:
    """What the task processes report; reading it is watching (the task events are published)."""
    if not settings.redis_url:
        await job_runs.watch(None, settings.redis_prefix)
        return await job_runs.activity(None, settings.redis_prefix), None
    client = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await job_runs.watch(client, settings.redis_prefix)
        return (await job_runs.activity(client, settings.redis_prefix),
                await job_runs.stream_queue(client, settings.redis_prefix))
    except (RedisError, OSError) as exc:
        logger.warning("jobs: task activity unavailable (%s)", exc)
        return job_runs.Activity(known=False), None
    finally:
        await client.aclose()


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat() if value is not None else ""


async def failed_deliveries(session: AsyncSession, *, now: datetime | None = None) -> list[FailedDelivery]:
    """Requests waiting to be sent again after an error, and those Overseerr refused lately."""
    since = (now or utcnow()) - REFUSED_WINDOW
    retrying = (col(MediaRequest.status) == RequestStatus.QUEUED.value) & col(MediaRequest.last_error).is_not(None)
    refused = (col(MediaRequest.status) == RequestStatus.REFUSED.value) & (col(MediaRequest.updated_at) > since)
    rows = (await session.exec(
        select(MediaRequest, User.username).join(User, col(User.id) == col(MediaRequest.user_id))
        .where(retrying | refused).order_by(col(MediaRequest.updated_at).desc()).limit(FAILED_LIMIT))).all()
    return [FailedDelivery(id=row.id or 0, title=row.title, member=username, status=row.status,
                           label="Waiting to retry" if row.status == RequestStatus.QUEUED.value else "Refused",
                           error=row.last_error or "", attempts=row.attempts, next_at=_iso(row.next_attempt_at),
                           updated_at=_iso(row.updated_at)) for row, username in rows]


async def failed_downloads(session: AsyncSession) -> list[FailedDownload]:
    """Downloaded videos that failed (a member can retry their own; an admin anyone's)."""
    rows = (await session.exec(
        select(YoutubeDownloadItem, YoutubeDownload.title, User.username)
        .join(YoutubeDownload, col(YoutubeDownload.id) == col(YoutubeDownloadItem.download_id))
        .join(User, col(User.id) == col(YoutubeDownloadItem.user_id))
        .where(YoutubeDownloadItem.status == ItemState.FAILED.value)
        .order_by(col(YoutubeDownloadItem.finished_at).desc(), col(YoutubeDownloadItem.id).desc())
        .limit(FAILED_LIMIT))).all()
    return [FailedDownload(item_id=item.id or 0, download_id=item.download_id, title=item.title,
                           download_title=title, member=username, error=item.error or "failed",
                           failed_at=_iso(item.finished_at)) for item, title, username in rows]


async def overview(session: AsyncSession, *, settings: Settings, now: datetime | None = None) -> JobsOverview:
    """Everything the Jobs page shows."""
    now = now or utcnow()
    runs, stream = await _activity(settings)
    items = schedules(settings)
    return JobsOverview(schedules=schedule_rows(items, runs, now=now), queue=queue_rows(items, runs, stream),
                        queue_note=_queue_note(settings, stream, runs.known),
                        deliveries=await failed_deliveries(session, now=now),
                        downloads=await failed_downloads(session))


async def _kick(kick: Kick, task_name: str) -> None:
    try:
        await kick(task_name)
    except Exception as exc:  # Redis down or refusing: nothing was sent
        logger.warning("could not send %s: %r", task_name, exc)
        raise IntegrationUnavailable("The task queue", repr(exc)) from exc


async def run_now(session: AsyncSession, *, actor: CurrentUser, task_name: str, settings: Settings, kick: Kick,
                  client_ip: str | None = None) -> str:
    """Send one run of a schedule's task at once (the schedule itself is unchanged). Commits.

    Raises:
        NotFound: no schedule runs that task.
        IntegrationUnavailable: the task queue could not be reached; nothing was sent.
    """
    item = next((s for s in schedules(settings) if s.task_name == task_name), None)
    if item is None:
        raise NotFound("There is no such job.")
    await _kick(kick, item.task_name)
    await audit.record(session, "job.run_now", actor_user_id=actor.id, target=f"task:{item.task_name}",
                       client_ip=client_ip)
    await session.commit()
    await live.publish({"type": "jobs"})
    return f"{item.label} was started."


async def retry_delivery(session: AsyncSession, *, actor: CurrentUser, request_id: int, timeout_s: float,
                         kick: Kick, client_ip: str | None = None) -> str:
    """Send a request that failed to go out again now, through the retry task (``deliver``): one
    waiting out its backoff becomes due, one Overseerr refused is queued again. Commits.

    Raises:
        NotFound: no such request.
        ValidationFailed: it is not a failed delivery, or an attempt is under way right now.
    """
    row = await session.get(MediaRequest, int(request_id))
    if row is None:
        raise NotFound("That request no longer exists.")
    now = utcnow()
    due = as_utc(row.next_attempt_at)
    if row.status == RequestStatus.QUEUED.value:
        if due is not None and now < due <= now + delivery_lease(timeout_s):
            raise ValidationFailed(f"{row.title} is being sent right now.")
    elif row.status != RequestStatus.REFUSED.value:
        raise ValidationFailed(f"{row.title} is not waiting to be sent.")
    was = row.status
    row.status, row.next_attempt_at, row.updated_at = RequestStatus.QUEUED.value, now, now
    session.add(row)
    await audit.record(session, "job.retry_delivery", actor_user_id=actor.id, target=f"request:{row.id}",
                       client_ip=client_ip, was=was, member_id=row.user_id)
    await session.commit()
    admins = await notifications.admin_ids(session)
    await notifications.announce([row.user_id, *admins], reason="delivery")
    await live.publish({"type": "jobs"})
    try:
        await _kick(kick, DELIVER_TASK)
    except IntegrationUnavailable:
        return f"{row.title} will be sent with the next scheduled retry (the task queue is not answering)."
    return f"{row.title} is being sent to Overseerr again."


async def retry_download(session: AsyncSession, *, actor: CurrentUser, item_id: int, queue: QueueItems,
                         client_ip: str | None = None) -> str:
    """Download a failed video again (``downloads.members.retry``, as its member would). Commits.

    Raises:
        NotFound: no such video.
        ValidationFailed: it has nothing to retry.
    """
    item = await session.get(YoutubeDownloadItem, int(item_id))
    if item is None:
        raise NotFound("That video is no longer part of a download.")
    download, again = await download_members.retry(session, item.download_id, user_id=actor.id, is_admin=True,
                                                   item_id=item.id)
    await audit.record(session, "job.retry_download", actor_user_id=actor.id, target=f"download:{download.id}",
                       client_ip=client_ip, item=item.id, member_id=download.user_id)
    await session.commit()
    await queue(again)
    await announce_download(download.user_id, download.id or 0)
    await live.publish({"type": "jobs"})
    return f"{item.title} will be downloaded again."
