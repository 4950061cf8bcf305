"""Every event handler's arguments, checked at the edge before the handler runs.

Any connected browser can send any handler any JSON. Before a MediaNest handler runs, its
payload is checked against the handler's signature and annotations: each required argument
present and no unknown one, the annotated type (``int`` within PostgreSQL's integer range,
``bool``, ``str`` that encodes as UTF-8 and is not huge, ``dict``/``list`` of such), so that a
crafted value never reaches a service, the database or the tab's state. A refused event changes
nothing; the browser gets a plain toast and the log one line without the value.

Arguments that carry a number as text (ids in option values) go through ``as_id``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import re
import types
import typing
from typing import Any

from reflex.event import Event
from reflex.middleware import Middleware
from reflex.state import StateUpdate

from .components import toasts
from .reflex_compat import registered_event_handler

logger = logging.getLogger(__name__)

DB_INT_MIN, DB_INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL ``integer``: every id column
MAX_TEXT = 5000
MAX_ITEMS = 64
MAX_DEPTH = 4
REFUSED = "That did not work: the page sent something MediaNest does not understand. Please reload the page."

_INT_TEXT = re.compile(r"-?[0-9]{1,10}")


def valid_text(value: Any) -> bool:
    """A string of sane length that can be stored and sent on (no lone surrogates)."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_int(value: Any) -> int | None:
    """An int, or ASCII digits, within the database's integer range; otherwise None.

    ``"²".isdigit()`` is true but ``int("²")`` fails, hence the explicit pattern."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and DB_INT_MIN <= value <= DB_INT_MAX:
        return value
    return None


def as_id(value: Any) -> int | None:
    """A positive database id from an int or its text; None when it cannot be one."""
    number = as_int(value)
    return number if number is not None and number > 0 else None


def _plain(value: Any, depth: int = 0) -> bool:
    """Plain JSON whose texts and numbers are all storable (for unannotated arguments)."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return as_int(value) is not None
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return valid_text(value)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, list):
        return len(value) <= MAX_ITEMS and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= MAX_ITEMS and all(valid_text(k) and _plain(v, depth + 1) for k, v in value.items())
    return False


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (decoded JSON) is acceptable for an argument annotated ``hint``."""
    if hint is Any or hint is inspect.Parameter.empty:
        return _plain(value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return as_int(value) is not None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and _plain(value)
    if hint is str:
        return valid_text(value)
    if hint is list or origin is list:
        item = args[0] if args else Any
        return isinstance(value, list) and len(value) <= MAX_ITEMS and all(fits(v, item) for v in value)
    if hint is dict or origin is dict:
        item = args[1] if len(args) == 2 else Any
        return isinstance(value, dict) and len(value) <= MAX_ITEMS and \
            all(valid_text(k) and fits(v, item) for k, v in value.items())
    return False  # an annotation this check does not know: refuse rather than guess


@functools.cache
def _parameters(fn: Any) -> tuple[tuple[inspect.Parameter, ...], dict[str, Any], bool]:
    params = tuple(inspect.signature(fn).parameters.values())[1:]  # without ``self``
    hints = typing.get_type_hints(fn)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return tuple(p for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)), hints, open_ended


def problem_with(fn: Any, payload: Any) -> str | None:
    """Why ``payload`` cannot be passed to handler ``fn``, or None when it can (the reason never
    quotes the value: it goes to the log)."""
    if not isinstance(payload, dict):
        return "the payload is not an object"
    params, hints, open_ended = _parameters(fn)
    names = {p.name for p in params}
    if not open_ended and any(name not in names for name in payload):
        return "an unknown argument"
    for param in params:
        if param.name not in payload:
            if param.default is inspect.Parameter.empty:
                return f"argument {param.name} is missing"
            continue
        if not fits(payload[param.name], hints.get(param.name, param.annotation)):
            return f"argument {param.name} is not a valid {getattr(hints.get(param.name), '__name__', 'value')}"
    if open_ended and not _plain({k: v for k, v in payload.items() if k not in names}):
        return "an extra argument is not valid"
    return None


class HandlerArguments(Middleware):
    """Refuses an event whose payload does not fit its MediaNest handler (``app.add_middleware``).

    Reflex would otherwise call the handler anyway: a missing argument raises a TypeError before
    its body runs, and a value its annotation cannot convert is passed on unconverted."""

    async def preprocess(self, app, state, event: Event) -> StateUpdate | None:
        registered = registered_event_handler(event.name)
        if registered is None or not registered.states[0].__module__.startswith("medianest."):
            return None  # Reflex's own states (hydrate, on_load, …) check their input
        fn = registered.handler.fn
        if getattr(fn, "__module__", "").startswith("medianest."):
            problem = problem_with(fn, event.payload)
        else:
            # Reflex's ``setvar`` exists on every state; MediaNest sets no var that way (it has no
            # setters, so a call could only fail inside Reflex).
            problem = f"{fn.__name__} is not a MediaNest handler"
        if problem is None:
            return None
        logger.info("refused a call of %s: %s", fn.__qualname__, problem)
        return StateUpdate(events=Event.from_event_type(toasts.error(REFUSED)))
