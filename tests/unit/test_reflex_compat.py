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
    modify = shared.SharedStateBaseInternal._modify_linked_states
    assert "_do_update_other_tokens" in modify.__wrapped__.__code__.co_names
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

    def original(affected_tokens, previous_dirty_vars, state_type):
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


# ---- every other internal MediaNest reaches through reflex_compat ------------------------------

def test_the_internals_behind_the_live_bridge_are_still_there():
    import inspect

    import reflex as rx
    from reflex.app import EventNamespace
    from reflex.utils.token_manager import TokenManager

    # is_tab_connected: the token manager the namespace builds, asked across web processes.
    assert "self._token_manager" in inspect.getsource(EventNamespace.__init__)
    assert inspect.iscoroutinefunction(TokenManager.is_token_connected)
    # send_to_tab: emit_update(update=StateUpdate, token=...).
    assert {"update", "token"} <= set(inspect.signature(EventNamespace.emit_update).parameters)
    # unlink / linked_tabs / linked_state_names.
    assert inspect.iscoroutinefunction(shared.SharedState._unlink)
    assert "_reflex_internal_links" in rx.State.get_fields()


def test_a_state_update_carries_events_for_one_tab():
    import reflex as rx

    update = reflex_compat.StateUpdate(events=reflex_compat.Event.from_event_type([rx.redirect("/login")]))
    assert len(update.events) == 1


def test_the_running_event_names_its_tab():
    assert reflex_compat.current_event_token() is None

    class _Stub:  # the context's other fields are never read by current_event_token
        pass

    context = reflex_compat.EventContext(token="tab-1", state_manager=_Stub(), enqueue_impl=_Stub())

    def in_event() -> str | None:
        reflex_compat.EventContext.set(context)
        return reflex_compat.current_event_token()

    assert contextvars.copy_context().run(in_event) == "tab-1"
    assert reflex_compat.current_event_token() is None


def test_handler_timing_wraps_the_processor_once_and_reports_each_outcome(monkeypatch):
    from reflex_base.event.processor import base_state_processor as processor

    # Reflex's processor must look process_event up in its module when it runs an event, or the
    # wrapper is never used.
    assert any("process_event" in code.co_names for code in _code_objects(processor.BaseStateEventProcessor)), \
        "Reflex no longer calls process_event through its module"

    class Handler:
        def __init__(self, fn) -> None:
            self.fn = fn

    async def fake_original(handler, payload, state, root_state):
        if payload.get("fail"):
            raise ValueError("boom")
        return "done"

    def on_click() -> None: ...

    monkeypatch.setattr(processor, "process_event", fake_original)
    seen: list[tuple[str, str]] = []
    reflex_compat.time_event_handlers(lambda name, outcome, seconds: seen.append((name, outcome)))
    wrapped = processor.process_event
    reflex_compat.time_event_handlers(lambda *_: seen.append(("twice", "")))
    assert processor.process_event is wrapped

    async def run() -> None:
        assert await wrapped(handler=Handler(on_click), payload={}, state=None, root_state=None) == "done"
        try:
            await wrapped(handler=Handler(on_click), payload={"fail": True}, state=None, root_state=None)
        except ValueError:
            pass

    asyncio.run(run())
    name = on_click.__qualname__
    assert seen == [(name, "ok"), (name, "error")]


def _code_objects(cls: type) -> list:
    """Every code object of a class's functions, nested functions included."""
    import inspect
    import types

    todo = [f.__code__ for _, f in inspect.getmembers(cls, inspect.isfunction)]
    found = []
    while todo:
        code = todo.pop()
        found.append(code)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def test_the_registration_context_and_the_prebuilt_frontend_helpers_exist():
    import inspect

    import medianest.medianest  # noqa: F401  (registers every state)
    from medianest.state import SessionState

    assert reflex_compat.registered_event_handler(f"{SessionState.get_full_name()}.keepalive") is not None
    assert reflex_compat.registered_event_handler("state.no_such.handler") is None
    assert callable(reflex_compat.frontend_mount) and inspect.signature(reflex_compat._exec.get_frontend_mount)
    assert reflex_compat.frontend_dir().name  # config, web dir and the static dir name all resolve
    assert issubclass(reflex_compat.LockExpiredError, Exception)
    assert callable(reflex_compat.FunctionStringVar.create)


def test_a_change_the_caller_sends_itself_is_not_fanned_out_again():
    def in_change() -> dict:
        reflex_compat._sent_by_caller.set(frozenset({"root.board"}))
        return reflex_compat.changes_worth_fanning_out({"root.board": {"services"}, "root.feed": {"unread"}})

    assert contextvars.copy_context().run(in_change) == {"root.feed": {"unread"}}


def test_what_change_shared_relies_on_is_still_there():
    assert list(inspect.signature(EventNamespace.emit_update).parameters)[1:] == ["update", "token"]
    assert hasattr(rx.State, "_get_resolved_delta") and StateUpdate(delta={"x": {"a": 1}}).delta == {"x": {"a": 1}}


def test_a_raw_javascript_hook_renders_its_code_and_imports():
    hook = reflex_compat.js_hook("refs['x'] = 1", imports={"$/utils/state": ["refs"]})
    assert str(hook) == "refs['x'] = 1"
    data = hook._get_all_var_data()
    assert data is not None and "$/utils/state" in dict(data.imports)


def test_a_browser_value_is_sent_as_code_the_page_runs():
    from medianest.pages.admin_audit import AdminAuditState

    code = "Intl.DateTimeFormat().resolvedOptions().timeZone"
    spec = AdminAuditState.set_time_zone(reflex_compat.browser_value(code))
    assert f'["name"] : {code}' in str(rx.Var.create(spec))  # code, not a quoted string
