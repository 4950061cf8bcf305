"""Toasts a handler can send without the browser evaluating code.

``rx.toast.*`` sends a JavaScript string that the browser runs with ``eval``, which the Content
Security Policy forbids. Here a toast travels as data: the backend sends Reflex's ``_set_value``
event (a frontend event, so it is delivered even when the tab's state could not be loaded, e.g.
while Redis is down), aimed at a ref that the toaster registers in compiled page code; its
setter hands the data to sonner. Call sites read like ``rx.toast``: ``return toasts.error(msg)``.
"""

from __future__ import annotations

import json

import reflex as rx
from reflex.components.sonner.toast import Toaster
from reflex.event import EventSpec
from reflex.vars import Var

from .. import reflex_compat

INBOX = "medianest_toasts"

# The ref's setter runs the toast; ``refs['__toast']`` is sonner's API, set by the Toaster's own hook.
_INBOX_HOOK = (
    f"refs['ref_{INBOX}'] = {{current: {{set value(data) {{"
    "try { const t = JSON.parse(data); const show = refs['__toast'];"
    " if (show) (show[t.level] || show)(t.message, t.duration ? {duration: t.duration} : undefined); }"
    " catch (e) { console.warn('toast', e); } }}}"
)


class MediaNestToaster(Toaster):
    """Sonner's toaster plus the inbox that backend toasts are written to."""

    def add_hooks(self) -> list[Var | str]:
        return [*super().add_hooks(), reflex_compat.js_hook(_INBOX_HOOK, imports={"$/utils/state": ["refs"]})]


def toaster() -> rx.Component:
    """The app's toaster (``rx.App(toaster=...)``)."""
    return MediaNestToaster.create()


def show(level: str, message: str, *, duration: int | None = None) -> EventSpec:
    payload = {"level": level, "message": str(message)}
    if duration:
        payload["duration"] = int(duration)
    return rx.set_value(INBOX, json.dumps(payload))


def error(message: str, *, duration: int | None = None) -> EventSpec:
    return show("error", message, duration=duration)


def success(message: str, *, duration: int | None = None) -> EventSpec:
    return show("success", message, duration=duration)


def info(message: str, *, duration: int | None = None) -> EventSpec:
    return show("info", message, duration=duration)


def warning(message: str, *, duration: int | None = None) -> EventSpec:
    return show("warning", message, duration=duration)
