"""Fixtures for the simulator tests: one real uvicorn pair per session, reset per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medianest.simulators.plex import SimulatorHandle, serve_in_thread

# python-plexapi reads its config at import time; point it at a file that does not
# exist so a developer's ~/.config/plexapi/config.ini cannot change test results.
os.environ.setdefault("PLEXAPI_CONFIG_PATH", os.path.join(os.path.dirname(__file__), "no-plexapi-config.ini"))

CLIENT_ID = "medianest-test-client"
ALICE_TOKEN = "sim-alice-token"


@pytest.fixture(scope="session")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder the PMS simulator's sections point at."""
    return tmp_path_factory.mktemp("pms-library")


@pytest.fixture(scope="session")
def simulators(library_root: Path) -> Iterator[SimulatorHandle]:
    """Both simulators served over real HTTP on free ports of 127.0.0.1."""
    handle = serve_in_thread("127.0.0.1", 0, 0, library_root=library_root, scan_delay=0.1)
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def fresh_state(simulators: SimulatorHandle, library_root: Path) -> Iterator[None]:
    """Every test starts from the fixtures with empty library folders."""
    for child in library_root.iterdir():
        shutil.rmtree(child)
    simulators.sim.reset()
    yield
    simulators.sim.clear_faults()


@pytest.fixture
def plex_tv(simulators: SimulatorHandle) -> Iterator[httpx.Client]:
    """A JSON client for the plex.tv simulator that sends a client identifier."""
    with httpx.Client(base_url=simulators.plex_tv_url, timeout=5,
                      headers={"Accept": "application/json", "X-Plex-Client-Identifier": CLIENT_ID,
                               "X-Plex-Product": "MediaNest"}) as client:
        yield client


@pytest.fixture
def pms(simulators: SimulatorHandle) -> Iterator[httpx.Client]:
    """A client for the PMS simulator with the owner's token (XML unless asked)."""
    with httpx.Client(base_url=simulators.pms_url, timeout=5, headers={"X-Plex-Token": ALICE_TOKEN}) as client:
        yield client
