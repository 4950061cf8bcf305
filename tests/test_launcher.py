"""``make run``'s port choices: a busy configured port is refused (never a silent move), and the
bundled simulators keep their ports across restarts (the household Plex URL saved at setup names
the simulated server's port)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from medianest.launcher import free_port, serving_port, simulator_ports


@contextmanager
def _busy() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_configured_port_is_refused_not_moved() -> None:
    with _busy() as port:
        with pytest.raises(RuntimeError, match=f"port {port} is in use"):
            serving_port(str(port), public_url_configured=False)
        # The default port with a configured public URL: serving elsewhere would break that URL.
        with pytest.raises(RuntimeError, match="MEDIANEST_PORT"):
            serving_port(None, public_url_configured=True, default=port)


def test_only_the_unconfigured_default_moves_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with _busy() as port, caplog.at_level(logging.WARNING, logger="medianest.launcher"):
        chosen = serving_port(None, public_url_configured=False, default=port)
    assert chosen != port
    assert f"Port {port} is in use: serving on port {chosen} instead" in caplog.text


def test_a_free_configured_port_is_used_and_nonsense_is_refused() -> None:
    port = free_port(0)
    assert serving_port(str(port), public_url_configured=True) == port
    for bad in ("abc", "0", "70000"):
        with pytest.raises(RuntimeError, match="MEDIANEST_PORT must be"):
            serving_port(bad, public_url_configured=False)


def test_connections_of_the_last_run_in_time_wait_do_not_move_a_port() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its port is left in TIME_WAIT
        client.recv(1)
        client.close()
    assert free_port(port) == port


def test_simulators_keep_their_ports_across_restarts(tmp_path: Path) -> None:
    saved = tmp_path / "simulator-ports.json"
    with _busy() as taken:
        first = simulator_ports(saved, {"pms": taken, "kuma": taken})
        assert taken not in first.values() and first["pms"] != first["kuma"]
        # Next start (the default still taken, e.g. by a real Plex): the same ports again.
        assert simulator_ports(saved, {"pms": taken, "kuma": taken}) == first
    saved.write_text("not json")
    assert set(simulator_ports(saved, {"pms": free_port(0)})) == {"pms"}
