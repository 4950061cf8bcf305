"""Admin: every schedule (interval, last run and result, next run) with Run now, the task queue per
kind, and the deliveries and downloads that failed, with Retry. Live: the board is a shared state
the live bridge reloads whenever a task is sent, starts or ends (``live_console``)."""

from __future__ import annotations

import reflex as rx

from .. import live, reflex_compat
from ..components import toasts
from ..components.admin import admin_tabs
from ..components.layout import shell
from ..config import get_settings
from ..db import session_scope
from ..errors import MediaNestError
from ..models import Role
from ..services import jobs
from ..state import JobsBoard, SessionMixin, jobs_board_token
from ..tasks import run_now as run_now_task
from ..tasks.downloads import queue_items

_STATE_BADGES = {
    "success": ("Success", "green"), "error": ("Failed", "red"), "running": ("Running", "blue"),
    "waiting": ("Waiting for a worker", "amber"), "lost": ("Stopped with its worker", "red"),
}


class AdminJobsState(SessionMixin, rx.State):
    """Holds nothing of its own: the page shows the shared ``JobsBoard``. The actions leave the
    board to the live bridge, so an action's event never holds the board's lock."""

    @rx.event
    async def load(self):
        await self._load_user(Role.ADMIN)
        fresh = await live.mark_watched(jobs_board_token())  # before reading: see live.is_watched
        board = await reflex_compat.link(await self.get_state(JobsBoard), jobs_board_token())
        await board._reload()
        if fresh:  # other admins' tabs may have missed changes: the bridge reloads it for all
            await live.publish({"type": "jobs"})

    @rx.event
    async def run_now(self, task_name: str):
        """Send one run of a schedule's task now."""
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                text = await jobs.run_now(session, actor=actor, task_name=task_name, settings=get_settings(),
                                          kick=run_now_task.kick, client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        return toasts.success(text)  # the board follows through the live bridge (a jobs event)

    @rx.event
    async def retry_delivery(self, request_id: int):
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                text = await jobs.retry_delivery(session, actor=actor, request_id=int(request_id),
                                                 timeout_s=get_settings().http_timeout_s, kick=run_now_task.kick,
                                                 client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        return toasts.success(text)  # the board follows through the live bridge (a jobs event)

    @rx.event
    async def retry_download(self, item_id: int):
        actor = await self._require_user(Role.ADMIN)
        try:
            async with session_scope() as session:
                text = await jobs.retry_download(session, actor=actor, item_id=int(item_id), queue=queue_items,
                                                 client_ip=self._client_ip())
        except MediaNestError as exc:
            return toasts.error(exc.user_message)
        return toasts.success(text)  # the board follows through the live bridge (a jobs event)


def _badge(state: rx.Var, class_name: str) -> rx.Component:
    return rx.match(state, *[(key, rx.badge(label, color_scheme=colour, variant="soft", class_name=class_name))
                             for key, (label, colour) in _STATE_BADGES.items()], rx.fragment())


def _ago(value: rx.Var) -> rx.Component:
    return rx.moment(value, from_now=True, interval=5000)


def _last_run(row: rx.Var) -> rx.Component:
    return rx.cond(
        row.last_at != "",
        rx.vstack(
            rx.hstack(_badge(row.last_state, "job-outcome"), rx.text(_ago(row.last_at), size="1"),
                      rx.text(row.last_trigger, size="1", color_scheme="gray", class_name="job-trigger"),
                      spacing="2", align="center", wrap="wrap"),
            rx.text(row.last_result, " · ", row.last_seconds, size="1", color_scheme="gray", class_name="job-result"),
            spacing="1",
        ),
        rx.text("Not run yet", size="1", color_scheme="gray", class_name="job-never"),
    )


def _manual(row: rx.Var) -> rx.Component:
    return rx.cond(
        row.manual_state != "",
        rx.hstack(rx.text("Run now:", size="1", weight="medium"), _badge(row.manual_state, "job-manual-state"),
                  rx.text(_ago(row.manual_at), size="1"),
                  rx.text(row.manual_result, size="1", color_scheme="gray"),
                  spacing="2", align="center", wrap="wrap", class_name="job-manual",
                  custom_attrs={"data-state": row.manual_state, "data-at": row.manual_at}),
        rx.fragment(),
    )


def _next_run(row: rx.Var) -> rx.Component:
    return rx.cond(
        row.late,
        rx.text("Late: is the scheduler running?", size="1", color_scheme="red", class_name="job-late"),
        rx.cond(row.next_at != "", rx.text(_ago(row.next_at), size="1", class_name="job-next"),
                rx.text("Waiting for the scheduler", size="1", color_scheme="gray", class_name="job-next")),
    )


def _schedule_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.hstack(rx.text(row.label, weight="bold"),
                      rx.cond(row.running > 0, rx.badge(rx.spinner(size="1"), "Running", color_scheme="blue",
                                                        class_name="job-running"), rx.fragment()),
                      spacing="2", align="center"),
            rx.text(row.why, size="1", color_scheme="gray"),
            rx.code(row.task_name, size="1", variant="ghost"),
            _manual(row),
            spacing="1")),
        rx.table.cell(rx.text(row.every, size="2", class_name="job-every")),
        rx.table.cell(_last_run(row)),
        rx.table.cell(_next_run(row)),
        rx.table.cell(rx.button(rx.icon("play", size=14), "Run now", size="1", variant="soft",
                                on_click=AdminJobsState.run_now(row.task_name), class_name="job-run-now")),
        id=row.dom_id, custom_attrs={"data-last-at": row.last_at},
    )


def _header(*names: str) -> rx.Component:
    return rx.table.header(rx.table.row(*[rx.table.column_header_cell(n) for n in names]))


def _queue() -> rx.Component:
    return rx.vstack(
        rx.heading("Queue", size="4"),
        rx.text(JobsBoard.queue_note, size="2", color_scheme="gray", id="queue-note"),
        rx.cond(JobsBoard.queue.length() > 0,
                rx.table.root(_header("Task", "Waiting", "Running"),
                              rx.table.body(rx.foreach(JobsBoard.queue, lambda q: rx.table.row(
                                  rx.table.cell(q.label), rx.table.cell(q.waiting, class_name="queue-waiting"),
                                  rx.table.cell(q.running, class_name="queue-running"), id=q.dom_id))),
                              width="100%", id="job-queue"),
                rx.text("Nothing is waiting or running.", size="2", color_scheme="gray", id="job-queue-empty")),
        spacing="2", width="100%",
    )


def _delivery_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.title, weight="medium")),
        rx.table.cell(row.member),
        rx.table.cell(rx.badge(row.label, color_scheme=rx.cond(row.status == "refused", "red", "amber"),
                               variant="soft")),
        rx.table.cell(rx.text(row.error, size="1"), class_name="delivery-error"),
        rx.table.cell(row.attempts),
        rx.table.cell(rx.button("Retry", size="1", variant="soft", on_click=AdminJobsState.retry_delivery(row.id),
                                class_name="retry-delivery")),
        id="delivery-" + row.id.to(str),
    )


def _download_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(row.title, weight="medium"),
                                rx.text(row.download_title, size="1", color_scheme="gray"), spacing="0")),
        rx.table.cell(row.member),
        rx.table.cell(rx.text(row.error, size="1"), class_name="download-error"),
        rx.table.cell(rx.cond(row.failed_at != "", rx.text(_ago(row.failed_at), size="1"), rx.fragment())),
        rx.table.cell(rx.button("Retry", size="1", variant="soft",
                                on_click=AdminJobsState.retry_download(row.item_id), class_name="retry-download")),
        id="failed-item-" + row.item_id.to(str),
    )


def _failed(title: str, rows: rx.Var, header: rx.Component, render, empty: str, element_id: str) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="4"),
        rx.cond(rows.length() > 0,
                rx.box(rx.table.root(header, rx.table.body(rx.foreach(rows, render)), width="100%", id=element_id),
                       width="100%", overflow_x="auto"),
                rx.text(empty, size="2", color_scheme="gray", id=f"{element_id}-empty")),
        spacing="2", width="100%",
    )


@rx.page(route="/admin/jobs", title="Jobs · Admin · MediaNest", on_load=AdminJobsState.load)
def admin_jobs() -> rx.Component:
    return shell(
        admin_tabs("/admin/jobs"),
        rx.heading("Schedules", size="4"),
        rx.box(rx.table.root(_header("Job", "Interval", "Last run", "Next run", ""),
                             rx.table.body(rx.foreach(JobsBoard.schedules, _schedule_row)),
                             width="100%", id="job-schedules"),
               width="100%", overflow_x="auto"),
        _queue(),
        _failed("Failed deliveries", JobsBoard.deliveries,
                _header("Request", "Member", "State", "Error", "Attempts", ""), _delivery_row,
                "No request is waiting for a retry or was refused lately.", "failed-deliveries"),
        _failed("Failed downloads", JobsBoard.downloads, _header("Video", "Member", "Error", "Failed", ""),
                _download_row, "No downloaded video has failed.", "failed-downloads"),
        title="Jobs",
    )
