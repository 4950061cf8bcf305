"""The app shell: header with navigation, user menu and colour mode; works at phone width."""

from __future__ import annotations

import reflex as rx

from ..state import SessionState, UserFeed
from .announcement import announcement_banner
from .native import auto_submit_form
from .notices import bell, notice_stack
from .status import outage_banner

KEEPALIVE_MS = 15_000
NAV = [("Home", "/", "house", False), ("Search", "/search", "search", False),
       ("Requests", "/requests", "list-checks", False), ("Library", "/library", "library", False),
       ("Downloads", "/downloads", "download", False),
       ("Admin", "/admin", "shield", True)]


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    return rx.link(rx.hstack(rx.icon(icon, size=16), rx.text(label), spacing="2", align="center"),
                   href=href, id=f"nav-{label.lower()}", underline="none", color_scheme="gray",
                   high_contrast=True, size="2")


def _links() -> list[rx.Component]:
    out = []
    for label, href, icon, admin_only in NAV:
        link = _nav_link(label, href, icon)
        out.append(rx.cond(SessionState.is_admin, link, rx.fragment()) if admin_only else link)
    return out


def _menu_item(label: str, href: str) -> rx.Component:
    return rx.dropdown_menu.item(label, on_click=rx.redirect(href), display=["flex", "flex", "none"],
                                 id=f"menu-{label.lower()}")


def user_menu() -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(
                rx.avatar(src=SessionState.user_avatar, fallback=SessionState.initials, size="2", radius="full"),
                rx.text(SessionState.user_name, display=["none", "none", "inline"]),
                rx.icon("chevron-down", size=14),
                variant="ghost", id="user-menu", aria_label="Account menu",
            ),
        ),
        rx.dropdown_menu.content(
            rx.box(
                rx.vstack(
                    rx.text(SessionState.user_name, weight="bold", id="menu-username"),
                    rx.badge(SessionState.user_role, id="menu-role",
                             color_scheme=rx.cond(SessionState.is_admin, "amber", "gray")),
                    spacing="1",
                ),
                padding="0.5em 0.75em",
            ),
            rx.dropdown_menu.separator(),
            # On phones the header links are hidden, so the menu carries them.
            *[rx.cond(SessionState.is_admin, _menu_item(label, href), rx.fragment()) if admin_only
              else _menu_item(label, href) for label, href, _icon, admin_only in NAV],
            rx.cond(SessionState.user_is_local,
                    rx.dropdown_menu.item("Change password", on_click=rx.redirect("/account/password")),
                    rx.fragment()),
            rx.dropdown_menu.item("Sign out", color="red", on_click=SessionState.sign_out, id="sign-out"),
        ),
    )


def header() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.link(rx.hstack(rx.icon("clapperboard", size=22), rx.heading("MediaNest", size="5"),
                              spacing="2", align="center"),
                    href="/", underline="none", color_scheme="gray", high_contrast=True, id="brand"),
            rx.hstack(*_links(), spacing="5", display=["none", "none", "flex"], margin_left="1.5em"),
            rx.spacer(),
            bell(),
            rx.color_mode.button(size="2", variant="ghost", id="color-mode"),
            user_menu(),
            align="center", width="100%", max_width="72rem", margin="0 auto", padding_x="1em",
            padding_y="0.6em", spacing="3",
        ),
        border_bottom=f"1px solid {rx.color('gray', 5)}", background=rx.color("gray", 1),
        position="sticky", top="0", z_index="10", width="100%",
    )


def shell(*children: rx.Component, title: str = "") -> rx.Component:
    """A signed-in page. Content shows once the guard has confirmed the session."""
    return rx.box(
        header(),
        # A hidden clock whose text changes every 15 s: its change event is the page's keepalive.
        rx.cond(SessionState.checked,
                rx.moment(format="X", interval=KEEPALIVE_MS, on_change=SessionState.keepalive, display="none"),
                rx.fragment()),
        rx.cond(SessionState.signing_out,
                rx.box(auto_submit_form("/auth/logout", {}, form_id="sign-out-form", label="Finish signing out",
                                        method="post"),
                       padding="1em"),
                rx.fragment()),
        rx.box(
            rx.cond(
                SessionState.checked,
                rx.vstack(announcement_banner(), outage_banner(),
                          *([rx.heading(title, size="7", id="page-title")] if title else []),
                          *children, spacing="5", width="100%"),
                rx.center(rx.spinner(size="3"), padding="4em", id="page-loading"),
            ),
            # Room below the page for the notices in the corner: whatever they cover can be
            # scrolled above them (on a phone they span the width).
            max_width="72rem", margin="0 auto", padding_top="1.5em", padding_x="1em", width="100%",
            padding_bottom=rx.cond(UserFeed.notices.length() > 0, "min(50vh, 28rem)", "4em"),
        ),
        rx.cond(SessionState.checked, notice_stack(), rx.fragment()),
        min_height="100vh", background=rx.color("gray", 2),
    )


def centered_card(*children: rx.Component, **props) -> rx.Component:
    """A single card in the middle of the screen (sign-in, errors)."""
    return rx.center(
        rx.card(rx.vstack(*children, spacing="4", width="100%"), size="4", width="100%", max_width="28rem", **props),
        min_height="100vh", padding="1em", background=rx.color("gray", 2),
    )


def brand_heading(subtitle: str = "") -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.icon("clapperboard", size=28), rx.heading("MediaNest", size="7"), align="center", spacing="2"),
        *([rx.text(subtitle, color_scheme="gray", size="2")] if subtitle else []),
        spacing="1", align="center", width="100%",
    )
