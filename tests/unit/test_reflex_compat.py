"""The Reflex internals MediaNest patches are still there, and the fan-out filter keeps real changes.

If a Reflex upgrade renames what ``medianest.reflex_compat`` relies on, these fail loudly instead
of the live status quietly becoming slow again."""

from __future__ import annotations

import asyncio
import contextvars
import inspect

import reflex as rx
from reflex.app import EventNamespace
from reflex.istate import shared
from reflex.state import StateUpdate

from medianest import reflex_compat


def test_reflex_still_fans_out_through_the_patched_function():
    # _modify_linked_states must look the function up in the module at call time for the patch to apply.
    assert callable(shared._do_update_other_tokens)
    assert "_do_update_other_tokens" in shared.SharedStateBaseInternal._modify_linked_states.__wrapped__.__code__.co_names
    assert hasattr(shared.SharedState, "_link_to")
    assert {"_linked_from", "_linked_to"} <= set(shared.SharedState.get_fields())


def test_install_wraps_once():
    reflex_compat.install()
    patched = shared._do_update_other_tokens
    reflex_compat.install()
    assert shared._do_update_other_tokens is patched
    assert getattr(patched, "__wrapped__", None) is not None
    assert getattr(patched.__wrapped__, "__wrapped__", None) is None


def test_link_bookkeeping_alone_is_not_fanned_out():
    changes = {"root.board": {"_linked_from"}, "root.feed": {"_linked_to", "_linked_from", "_tabs"}}
    assert reflex_compat.changes_worth_fanning_out(changes) == {}


def test_real_changes_are_fanned_out_without_the_bookkeeping():
    changes = {"root.board": {"services", "_linked_from"}, "root.feed": set()}
    assert reflex_compat.changes_worth_fanning_out(changes) == {"root.board": {"services"}}


def test_a_state_linked_by_this_event_is_not_fanned_out_but_others_are():
    def in_event() -> dict:
        reflex_compat._linked_in_this_event.set(frozenset({"root.feed"}))
        return reflex_compat.changes_worth_fanning_out({"root.feed": {"notices", "unread"},
                                                       "root.board": {"services"}})

    assert contextvars.copy_context().run(in_event) == {"root.board": {"services"}}
    # Each Reflex event runs in a task of its own: nothing leaks into the next one.
    assert reflex_compat.changes_worth_fanning_out({"root.feed": {"notices"}}) == {"root.feed": {"notices"}}


def test_patched_fan_out_skips_the_call_when_nothing_changed_for_others():
    calls: list[dict] = []

    def original(affected_tokens, previous_dirty_vars, state_type):  # noqa: ANN001, ANN202
        calls.append(previous_dirty_vars)
        return ["task"]

    patched = reflex_compat._skip_bookkeeping_only(original)
    assert patched({"t1", "t2"}, {"root.board": {"_linked_from"}}, object) == []
    assert calls == []
    assert patched({"t1"}, {"root.board": {"services", "_linked_from"}}, object) == ["task"]
    assert calls == [{"root.board": {"services"}}]


def test_link_context_is_per_task():
    async def main() -> tuple[frozenset, frozenset]:
        async def event() -> frozenset:
            reflex_compat._linked_in_this_event.set(frozenset({"x"}))
            return reflex_compat._linked_in_this_event.get()

        inside = await asyncio.create_task(event())
        return inside, reflex_compat._linked_in_this_event.get()

    inside, after = asyncio.run(main())
    assert inside == {"x"} and after == frozenset()


def test_a_change_the_caller_sends_itself_is_not_fanned_out_again():
    def in_change() -> dict:
        reflex_compat._sent_by_caller.set(frozenset({"root.board"}))
        return reflex_compat.changes_worth_fanning_out({"root.board": {"services"}, "root.feed": {"unread"}})

    assert contextvars.copy_context().run(in_change) == {"root.feed": {"unread"}}


def test_what_change_shared_relies_on_is_still_there():
    assert list(inspect.signature(EventNamespace.emit_update).parameters)[1:] == ["update", "token"]
    assert hasattr(rx.State, "_get_resolved_delta") and StateUpdate(delta={"x": {"a": 1}}).delta == {"x": {"a": 1}}
