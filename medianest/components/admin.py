"""Navigation inside the admin area."""

from __future__ import annotations

import reflex as rx


def admin_tabs(current: str) -> rx.Component:
    """The admin area's tabs (Users, Requests, Downloads, Services, Jobs, Audit, System, Announcement)."""
    return rx.hstack(
        *[rx.link(rx.button(label, variant="solid" if href == current else "soft", size="2"), href=href,
                  id=f"admin-tab-{label.lower()}")
          for label, href in (("Users", "/admin"), ("Requests", "/admin/requests"),
                              ("Downloads", "/admin/downloads"),
                              ("Services", "/admin/services"),
                              ("Jobs", "/admin/jobs"),
                              ("Audit", "/admin/audit"),
                              ("System", "/admin/system"),
                              ("Announcement", "/admin/announcement"))],
        spacing="2", wrap="wrap",
    )
