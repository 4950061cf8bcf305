"""The admin's announcement: a banner on every signed-in page while it lasts, live (its end is
decided on the server, see ``live_console``; the browser only shows the end time, in local time)."""

from __future__ import annotations

import reflex as rx

from ..state import AnnouncementBanner


def _callout(level: str, icon: str, colour: str) -> rx.Component:
    return rx.callout(
        rx.text(
            rx.text.span(AnnouncementBanner.message, class_name="announcement-message"),
            rx.cond(AnnouncementBanner.ends_at != "",
                    rx.text.span(" · until ", rx.moment(AnnouncementBanner.ends_at, format="D MMM, HH:mm", local=True),
                                 color_scheme="gray", class_name="announcement-until"),
                    rx.fragment()),
        ),
        icon=icon, color_scheme=colour, size="1", width="100%", id="announcement-banner",
        class_name=f"announcement announcement-{level}", role="status",
    )


def announcement_banner() -> rx.Component:
    return rx.cond(
        AnnouncementBanner.message != "",
        rx.cond(AnnouncementBanner.level == "warning", _callout("warning", "triangle-alert", "amber"),
                _callout("info", "megaphone", "blue")),
        rx.fragment(),
    )
