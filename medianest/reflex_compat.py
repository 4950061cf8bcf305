"""The Reflex internals MediaNest relies on, in one place.

Nothing else in MediaNest touches an underscore attribute of Reflex or imports from
``reflex_base`` / ``reflex.utils``: it calls a function here. Each name used here is checked by
``tests/unit/test_reflex_compat.py``, which fails loudly when a Reflex upgrade removes or renames
it, instead of the app degrading silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import reflex as rx
from reflex.istate import shared as _shared
from reflex.state import StateUpdate
from reflex.utils import exec as _exec
from reflex.utils import prerequisites as _prerequisites
from reflex.vars import FunctionStringVar, Var, VarData
from reflex_base import constants as _constants
from reflex_base.config import get_config as _get_config
from reflex_base.event import Event
from reflex_base.event.context import EventContext
from reflex_base.event.processor import base_state_processor as _processor
from reflex_base.registry import RegistrationContext
from reflex_base.utils.exceptions import LockExpiredError

if TYPE_CHECKING:
    from starlette.routing import Mount

__all__ = ["FunctionStringVar", "LockExpiredError", "changes_worth_fanning_out", "current_event_token",
           "frontend_dir", "frontend_mount", "install", "is_tab_connected", "link", "linked_tabs",
           "registered_event_handler", "send_to_tab", "set_linked_tabs", "time_event_handlers", "unlink",
           "change_shared", "js_hook", "browser_value"]

logger = logging.getLogger("medianest.reflex_compat")


def _reaches_browser(var_name: str) -> bool:
    """Backend vars (a leading underscore: Reflex's link bookkeeping ``_linked_from``/``_linked_to``,
    our own ``UserFeed._tabs``) are never sent to a browser, so no other tab needs to hear of them.
    A computed var that reads one is marked dirty itself and still goes out."""
    return not var_name.startswith("_")


# The shared states that the running event linked its tab to. Reflex runs every event in a task of
# its own, so this never outlives the event.
_linked_in_this_event: ContextVar[frozenset[str]] = ContextVar("medianest_linked_in_this_event",
                                                               default=frozenset())

# The shared states whose change the running code sends to the linked tabs itself (``change_shared``).
_sent_by_caller: ContextVar[frozenset[str]] = ContextVar("medianest_sent_by_caller", default=frozenset())

SharedT = TypeVar("SharedT", bound=_shared.SharedState)


async def link(state: SharedT, token: str) -> SharedT:
    """Link a tab's shared state to ``token`` (``SharedState._link_to``) without re-sending the
    shared state to every other tab already linked to it.

    Linking marks every var of the shared state dirty so that *this* tab receives it; Reflex then
    also fans those unchanged values out to every other linked tab. Nothing changed for them.
    """
    if state._linked_to == token:
        return state
    _linked_in_this_event.set(_linked_in_this_event.get() | {type(state).get_full_name()})
    return await state._link_to(token)


def changes_worth_fanning_out(previous_dirty_vars: dict[str, set[str]]) -> dict[str, set[str]]:
    """The part of a shared-state change that other tabs need: what reaches a browser.

    Reflex 0.10 re-sends a shared state to every other linked tab after *any* event that loaded
    it, even when nothing changed but the list of linked tabs (``_modify_linked_states`` tests
    ``_previous_dirty_vars is not None``, which is always true for a shared state). A tab's
    page load or keepalive then costs one state load, lock and delta per other linked tab: with
    200 tabs of one member linked to one feed, 200 page loads queue ~20,000 such updates, and a
    real status change waits behind them (measured: p99 11-24 s at 200 tabs). A state that this
    event linked (see ``link``) changed for no other tab either.
    """
    skip = _linked_in_this_event.get() | _sent_by_caller.get()
    changes = {name: {var for var in dirty if _reaches_browser(var)}
               for name, dirty in previous_dirty_vars.items() if name not in skip}
    return {name: dirty for name, dirty in changes.items() if dirty}


@contextlib.asynccontextmanager
async def change_shared(app: rx.App, cls: type[SharedT], token: str) -> AsyncIterator[SharedT]:
    """Change a shared state from outside an event (the live bridge) and send the change to every
    linked tab as one delta, computed once.

    Reflex would send it tab by tab: for each linked tab, lock and load that tab's state, then
    lock, load and save the shared state again (one tab after the other, since they all wait for
    the same lock), and compute the same delta again. At 200 tabs on a status board shard or on
    one member's feed that queue is what made a status change take seconds to reach the last tab.
    The delta is the same for every tab, so it is computed here once and emitted to each linked
    tab while the shared state's lock is still held: a later change, from any web process, reaches
    each tab after this one, and a tab linking meanwhile waits for the lock and gets the new values
    with its link. (No state of a tab's own depends on a shared state's vars: they would not be
    recomputed here.)

    Yields:
        The shared state to change.
    """
    name = cls.get_full_name()
    sent_by_caller = _sent_by_caller.set(_sent_by_caller.get() | {name})
    try:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=cls)) as root:
            state = await root.get_state(cls)
            yield state
            delta = (await root._get_resolved_delta()).get(name)
            namespace = app.event_namespace
            if delta and namespace is not None:
                tabs = sorted(state._linked_from)
                update = StateUpdate(delta={name: delta})
                results = await asyncio.gather(*(namespace.emit_update(update=update, token=tab) for tab in tabs),
                                               return_exceptions=True)
                failed = [r for r in results if isinstance(r, Exception)]
                if failed:
                    logger.warning("%s of %s tabs missed a change of %s: %s", len(failed), len(tabs), cls.__name__,
                                   failed[0])
    finally:
        _sent_by_caller.reset(sent_by_caller)


def _skip_bookkeeping_only(original: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    def update_other_tokens(affected_tokens: set[str], previous_dirty_vars: dict[str, set[str]],
                            state_type: type) -> list[Any]:
        changes = changes_worth_fanning_out(previous_dirty_vars)
        if not changes:
            return []
        return original(affected_tokens=affected_tokens, previous_dirty_vars=changes, state_type=state_type)

    update_other_tokens.__wrapped__ = original  # type: ignore[attr-defined]
    return update_other_tokens


def install() -> None:
    """Patch Reflex where MediaNest needs it to behave differently; safe to call more than once."""
    current = _shared._do_update_other_tokens
    if getattr(current, "__wrapped__", None) is None:
        _shared._do_update_other_tokens = _skip_bookkeeping_only(current)


# ---- shared states: who is linked ---------------------------------------------------------

def linked_tabs(state: _shared.SharedState) -> set[str]:
    """The tabs linked to a shared state (``SharedState._linked_from``)."""
    return set(state._linked_from)


def set_linked_tabs(state: _shared.SharedState, tabs: Iterable[str]) -> None:
    """Forget every linked tab not in ``tabs``: Reflex never unlinks a tab whose socket went away."""
    state._linked_from = set(tabs)


async def unlink(state: _shared.SharedState) -> list:
    """Unlink this tab's shared state (``SharedState._unlink``); returns Reflex's re-hydrate events."""
    return await state._unlink()


def linked_state_names(root: rx.State) -> dict[str, str]:
    """The shared states this tab is linked to, by state name (``_reflex_internal_links``)."""
    return dict(root._reflex_internal_links or {})


# ---- sockets and events -------------------------------------------------------------------

async def is_tab_connected(app: rx.App, token: str) -> bool:
    """Whether a tab has a live socket in *any* web process.

    Not ``app.event_namespace.token_to_sid`` (the documented mapping): it also holds cached records
    of sockets on other processes that may be long gone (their tabs would never be forgotten), and
    it copies the whole mapping on every read. The token manager re-checks such records in Redis."""
    namespace = app.event_namespace
    if namespace is None:
        return True
    return await namespace._token_manager.is_token_connected(token)


async def send_to_tab(app: rx.App, token: str, events: list) -> None:
    """Send events (``rx.redirect(...)``, re-hydrate events) to one tab outside any of its events."""
    if app.event_namespace is None:
        return
    update = StateUpdate(events=Event.from_event_type(events))
    await app.event_namespace.emit_update(update=update, token=token)


def current_event_token() -> str | None:
    """The tab whose event is running (None outside an event)."""
    try:
        return EventContext.get().token
    except LookupError:
        return None


def registered_event_handler(name: str) -> Any | None:
    """The event handler a full event name refers to, if the app registered one."""
    return RegistrationContext.get().event_handlers.get(name)


def time_event_handlers(observe: Callable[[str, str, float], None]) -> None:
    """Call ``observe(handler_qualname, "ok" | "error", seconds)`` after every event handler run.

    Reflex 0.10's middleware has no hook after a handler (``postprocess`` is never called), so this
    wraps the event processor's ``process_event``; safe to call more than once."""
    original: Callable[..., Awaitable[Any]] = _processor.process_event
    if getattr(original, "_medianest_instrumented", False):
        return

    async def timed(handler, payload, state, root_state):
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await original(handler=handler, payload=payload, state=state, root_state=root_state)
            outcome = "ok"
            return result
        finally:
            observe(getattr(handler.fn, "__qualname__", ""), outcome, time.perf_counter() - started)

    timed._medianest_instrumented = True  # type: ignore[attr-defined]
    timed.__wrapped__ = original  # type: ignore[attr-defined]
    _processor.process_event = timed


# ---- the built frontend -------------------------------------------------------------------

def frontend_dir() -> Path:
    """Where Reflex serves the built frontend from (as ``reflex.utils.exec.get_frontend_mount``)."""
    return (_prerequisites.get_web_dir() / _constants.Dirs.STATIC / _get_config().frontend_path.strip("/")).resolve()


def frontend_mount() -> Mount:
    """A Starlette mount serving the frontend exported at image build time (no bun at run time)."""
    return _exec.get_frontend_mount()


def js_hook(code: str, *, imports: dict[str, list[str]]) -> Var:
    """A hook of literal JavaScript for a component's ``add_hooks`` (``Var(_js_expr=…)``: no
    public constructor takes raw code with its imports)."""
    return Var(_js_expr=code, _var_data=VarData(imports=imports))


def browser_value(code: str) -> Var:
    """A value the browser computes when the event is sent (e.g. its time zone), as an event
    argument. The expression is compiled into the page's module, so it runs under the Content
    Security Policy (no eval); the handler must check what arrives like any other argument."""
    return Var(_js_expr=code, _var_type=str)
