"""The shape of the state tree: page states are flat, so an event on the session (the keepalive
of every open tab) loads no page state, and clearing a signed-out tab still finds every page."""

from __future__ import annotations

import reflex as rx
from reflex.istate.manager.redis import StateManagerRedis

import medianest.medianest  # noqa: F401 - registers every page and its state
from medianest.pages.requests import RequestsState
from medianest.pages.search import SearchState
from medianest.services.request_views import RequestView
from medianest.state import SessionMixin, SessionState, StatusBoard, clear_tab, member_states


def _loaded_by_an_event_on(cls: type[rx.State]) -> set[str]:
    """The states Reflex loads (and saves) for an event on ``cls`` (its parents and all its substates)."""
    manager = StateManagerRedis.__new__(StateManagerRedis)  # only the tree walk is used, no Redis
    return {c.__name__ for c in manager._get_required_state_classes(cls, subclasses=True)}


def test_page_states_are_direct_substates_of_the_root():
    pages = [cls for cls in member_states() if cls is not SessionState]
    assert {cls.__name__ for cls in pages} >= {"SearchState", "RequestsState", "LibraryState", "AdminUsersState",
                                              "AdminRequestsState", "SetupState", "PasswordState"}
    assert all(cls.get_parent_state() is rx.State for cls in [SessionState, *pages])
    assert not SessionState.get_substates()


def test_keepalive_loads_only_the_session_and_a_status_change_no_page():
    assert _loaded_by_an_event_on(SessionState) == {"State", "SessionState", "SharedStateBaseInternal"}
    assert not {cls.__name__ for cls in member_states()} & _loaded_by_an_event_on(StatusBoard)
    assert "SessionState" not in _loaded_by_an_event_on(SearchState)


async def test_clear_tab_resets_the_session_and_every_page_state():
    root = rx.State()
    session = await root.get_state(SessionState)
    session.user_name, session._session_id = "bob", "s1"
    (await root.get_state(SearchState)).query = "dune"
    requests = await root.get_state(RequestsState)
    requests.rows = [RequestView(1, "Dune", "2021", "Movie", "pending", "Pending", "", "", "", "", "", "", "", "bob",
                                 False, "movie")]
    await clear_tab(root)
    assert (session.user_name, session._session_id) == ("", "")
    assert (await root.get_state(SearchState)).query == "" and (await root.get_state(RequestsState)).rows == []
    assert all(issubclass(cls, SessionMixin) for cls in member_states())
