"""Service status: the dashboard cards and the outage banner shown on every page."""

from __future__ import annotations

import reflex as rx

from ..state import SessionState, StatusBoard

_COLOURS = {"up": "green", "down": "red", "pending": "amber", "maintenance": "blue"}
_ICONS = {"up": "circle-check", "down": "circle-x", "pending": "clock", "maintenance": "wrench"}


def _status_badge(service: rx.Var) -> rx.Component:
    colour = rx.cond(service["stale"], "gray", rx.match(service["status"], *_COLOURS.items(), "gray"))
    icon = rx.cond(
        service["stale"], rx.icon("circle-help", size=14),
        rx.match(service["status"], *[(k, rx.icon(v, size=14)) for k, v in _ICONS.items()],
                 rx.icon("circle-help", size=14)))
    return rx.badge(icon, service["label"], color_scheme=colour, size="2", variant="soft",
                    id="status-" + service["key"].to(str).replace(":", "-"))


def _sparkline(service: rx.Var) -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="ms", stroke=rx.color("accent", 9), dot=False, is_animation_active=False),
        data=service["history"], width="100%", height=40,
    )


def service_card(service: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(service["name"], weight="bold", size="3"),
                rx.spacer(),
                _status_badge(service),
                width="100%", align="center",
            ),
            rx.cond(service["message"] != "", rx.text(service["message"], size="1", color_scheme="gray"),
                    rx.fragment()),
            rx.grid(
                rx.vstack(rx.text("Response", size="1", color_scheme="gray"), rx.text(service["response"], size="2"),
                          spacing="0"),
                rx.vstack(rx.text("24 h", size="1", color_scheme="gray"), rx.text(service["uptime_24h"], size="2"),
                          spacing="0"),
                rx.vstack(rx.text("30 days", size="1", color_scheme="gray"), rx.text(service["uptime_30d"], size="2"),
                          spacing="0"),
                columns="3", width="100%",
            ),
            _sparkline(service),
            rx.hstack(
                rx.cond(service["checked_at"] != "",
                        # "now" minus the check time, in seconds, redrawn every second.
                        rx.text("checked ", rx.moment(diff=service["checked_at"], unit="seconds", interval=1000),
                                " s ago", size="1", color_scheme="gray", class_name="checked-ago"),
                        rx.text("not checked yet", size="1", color_scheme="gray")),
                rx.spacer(),
                rx.cond(service["url"] != "",
                        rx.link("Open", rx.icon("external-link", size=12), href=service["url"], is_external=True,
                                size="1"),
                        rx.fragment()),
                width="100%", align="center",
            ),
            spacing="2", width="100%",
        ),
        width="100%", id="card-" + service["key"].to(str).replace(":", "-"),
    )


def status_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Services", size="5"),
        rx.cond(
            StatusBoard.services.length() > 0,
            rx.grid(rx.foreach(StatusBoard.services, service_card), columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                    spacing="4", width="100%", id="status-grid"),
            rx.callout(
                rx.vstack(
                    rx.text("No services are being watched yet."),
                    rx.cond(SessionState.is_admin,
                            rx.text(rx.link("Choose the household Plex server", href="/setup", id="status-setup-link"),
                                    ", or set UPTIME_KUMA_URL and OVERSEERR_URL, and MediaNest starts checking them."),
                            rx.text("An admin can set this up.")),
                    spacing="1"),
                icon="activity", color_scheme="gray", width="100%", id="status-empty"),
        ),
        spacing="3", width="100%",
    )


def outage_banner() -> rx.Component:
    """'Plex is down since 14:02' on every page while it lasts (local time of the browser)."""
    return rx.foreach(
        StatusBoard.outages,
        lambda service: rx.callout(
            rx.text(service["name"], " is down since ", rx.moment(service["since"], format="HH:mm", local=True)),
            icon="triangle-alert", color_scheme="red", size="1", width="100%",
            id="outage-" + service["key"].to(str).replace(":", "-")),
    )
