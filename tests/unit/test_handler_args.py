"""Handler arguments are checked before any MediaNest handler runs (medianest.handler_args)."""

from __future__ import annotations

import json
import typing

import pytest
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

import medianest.medianest  # noqa: F401  (registers every state and the middleware)
from medianest.components.toasts import INBOX
from medianest.handler_args import HandlerArguments, as_id, as_int, fits, problem_with

SURROGATE = "heat\udc00"
HUGE = 2**31


def medianest_handlers() -> dict[str, typing.Any]:
    return {name: r.handler.fn for name, r in RegistrationContext.get().event_handlers.items()
            if r.handler.fn.__module__.startswith("medianest.")}


GOOD = {int: 7, str: "x", bool: True, dict: {"current": "a", "new": "b"}}


def good_payload(fn) -> dict:
    hints = typing.get_type_hints(fn)
    return {name: GOOD.get(hint, "x") for name, hint in hints.items() if name != "return"}


def test_numbers_as_text_and_ids():
    assert as_int("12") == 12 and as_int(-3) == -3 and as_int("0042") == 42
    for bad in ("²", "1e3", " 1", "", None, True, 1.0, HUGE, str(HUGE), -(2**31) - 1, "99999999999", SURROGATE):
        assert as_int(bad) is None, bad
    assert as_id("5") == 5 and as_id(0) is None and as_id(-1) is None and as_id("all") is None


def test_types_follow_annotations():
    assert fits("ok", str) and not fits(SURROGATE, str) and not fits(5, str) and not fits(None, str)
    assert not fits("x" * 5001, str)
    assert fits(3, int) and fits("3", int) and not fits(True, int) and not fits(HUGE, int) and not fits(None, int)
    assert fits(False, bool) and not fits("false", bool) and not fits(0, bool)
    assert fits(["a"], str | list[str]) and fits("a", str | list[str]) and not fits([1], str | list[str])
    assert fits({"a": "b", "c": True}, dict) and not fits({"a": SURROGATE}, dict) and not fits(["a"], dict)
    deep: typing.Any = 1
    for _ in range(8):
        deep = {"k": deep}
    assert not fits(deep, dict)  # nesting is bounded
    assert fits(None, int | None) and not fits(object(), typing.Any)


def test_every_handler_accepts_a_well_formed_call_and_refuses_crafted_ones():
    handlers = medianest_handlers()
    assert len(handlers) > 40
    for name, fn in handlers.items():
        payload = good_payload(fn)
        assert problem_with(fn, payload) is None, name
        assert problem_with(fn, {**payload, "extra": 1}) is not None, name
        assert problem_with(fn, [1]) is not None, name
        for arg in payload:
            for bad in (SURROGATE, HUGE, None, ["x"], {"x": SURROGATE}):
                if fits(bad, typing.get_type_hints(fn)[arg]):
                    continue
                assert problem_with(fn, {**payload, arg: bad}) is not None, (name, arg, bad)
            missing = {k: v for k, v in payload.items() if k != arg}
            required = arg not in ("_tick", "_open")
            assert (problem_with(fn, missing) is not None) == required, (name, arg)


@pytest.mark.parametrize("payload", [{}, {"number": "two"}, {"number": None}, {"number": HUGE},
                                     {"number": "²"}, {"number": 1, "more": 2}])
async def test_middleware_answers_a_bad_call_with_a_toast_and_skips_the_handler(payload):
    name = next(n for n, fn in medianest_handlers().items() if fn.__qualname__ == "SearchState.toggle_season")
    update = await HandlerArguments().preprocess(None, None, Event(name=name, payload=payload))
    assert update is not None
    (event,) = update.events
    assert event.name == "_set_value" and event.payload["ref"] == f"ref_{INBOX}"
    assert json.loads(event.payload["value"])["level"] == "error"


async def test_middleware_lets_good_calls_and_reflex_events_through():
    name = next(n for n, fn in medianest_handlers().items() if fn.__qualname__ == "SearchState.toggle_season")
    assert await HandlerArguments().preprocess(None, None, Event(name=name, payload={"number": 2})) is None
    hydrate = next(n for n in RegistrationContext.get().event_handlers if n.endswith(".hydrate"))
    assert await HandlerArguments().preprocess(None, None, Event(name=hydrate, payload={})) is None


async def test_setvar_on_a_medianest_state_is_refused_plainly():
    from medianest.state import SessionState

    name = f"{SessionState.get_full_name()}.setvar"
    update = await HandlerArguments().preprocess(None, None, Event(name=name, payload={"var_name": "user_role",
                                                                                     "value": "admin"}))
    assert update is not None and update.events[0].name == "_set_value"
