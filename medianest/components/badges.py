"""Status badges shared by the search, requests and admin pages."""

from __future__ import annotations

import reflex as rx

AVAILABILITY_COLOURS = {"available": "green", "partial": "teal", "processing": "blue", "requested": "amber",
                        "none": "gray"}
REQUEST_STATUS_COLOURS = {"queued": "gray", "pending": "amber", "approved": "blue", "processing": "blue",
                          "partially_available": "teal", "available": "green", "declined": "red", "failed": "red",
                          "refused": "red", "duplicate": "orange"}


def availability_badge(item: rx.Var) -> rx.Component:
    """A search result's availability (``badge`` and ``badge_label`` of a ``ResultView``)."""
    return rx.badge(item["badge_label"], variant="soft", class_name="availability",
                    color_scheme=rx.match(item["badge"], *AVAILABILITY_COLOURS.items(), "gray"))


def request_status_badge(row: rx.Var) -> rx.Component:
    """A request's status (``status`` and ``label`` of a ``RequestView``)."""
    return rx.badge(row["label"], variant="soft", class_name="request-status",
                    color_scheme=rx.match(row["status"], *REQUEST_STATUS_COLOURS.items(), "gray"))
