"""Ports for the servers the stack starts are chosen below the kernel's ephemeral range: a
port the kernel hands out once (binding port 0) it hands out again as the source port of an
outgoing connection, and the stack's clients open many before its servers bind."""

from __future__ import annotations

import secrets
import socket

import pytest

from kernel import procs


def test_a_free_port_is_below_the_range_outgoing_connections_take_theirs_from() -> None:
    low = procs.ephemeral_low()
    ports = {procs.free_port() for _ in range(20)}
    assert all(20_000 <= port < min(low, 32_768) for port in ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when chosen


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        busy = procs.free_port()
        taken.bind(("127.0.0.1", busy))
        taken.listen()
        monkeypatch.setattr(procs, "_LOWEST_PORT", busy - 1)
        drawn = iter([1, 0])  # the busy port first, then the one below it
        monkeypatch.setattr(secrets, "randbelow", lambda _: next(drawn))
        port = procs.free_port()
    assert port == busy - 1


def test_without_room_below_the_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = procs.ephemeral_low()
    monkeypatch.setattr(procs, "ephemeral_low", lambda: 1_024)
    port = procs.free_port()
    assert port >= low  # the kernel's choice, from its own range
