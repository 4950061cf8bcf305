"""Plain HTML forms that really navigate.

Reflex turns ``rx.el.form`` into a JavaScript-handled form (it calls preventDefault) and
``rx.el.a`` into a client-side router link. The sign-in hops must be real page loads,
because only an HTTP response can set the HttpOnly session cookie.
"""

from __future__ import annotations

import reflex as rx

from ..reflex_compat import FunctionStringVar


class NativeForm(rx.el.Div):
    """A ``<form>`` the browser submits itself (attributes via ``custom_attrs``)."""

    tag = "form"


def native_form(*children: rx.Component, action: str, method: str = "get", **props) -> rx.Component:
    return NativeForm.create(*children, custom_attrs={"action": action, "method": method}, **props)


def auto_submit_form(action: str, fields: dict[str, rx.Var | str], *, form_id: str,
                     label: str = "Continue", method: str = "get") -> rx.Component:
    """A form that submits itself as soon as it is rendered (a real navigation).

    The submit is a function compiled into the page's module (a ``_call_function`` whose
    function is code, not a string the browser would have to eval), so it runs under the
    Content Security Policy, whose ``script-src`` has neither 'unsafe-eval' nor 'unsafe-inline'
    (see ``medianest.csp``); the button is the fallback without JavaScript.
    """
    submit = FunctionStringVar.create(f"(() => document.getElementById('{form_id}')?.submit())")
    return native_form(
        *[rx.el.input(type="hidden", name=name, value=value) for name, value in fields.items()],
        rx.button(label, type="submit", variant="soft", id=f"{form_id}-button"),
        action=action, method=method, id=form_id, on_mount=rx.call_function(submit),
    )


def ticket_form(ticket: rx.Var, next_path: rx.Var, *, form_id: str = "finish-sign-in") -> rx.Component:
    """Hands a one-time ticket to ``/auth/session``, which sets the HttpOnly session cookie."""
    return auto_submit_form("/auth/session", {"ticket": ticket, "next": next_path}, form_id=form_id)
