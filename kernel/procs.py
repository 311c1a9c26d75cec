"""Child processes that die with their parent, and small helpers around them."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from kernel.errors import StackError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in a terminal reaches the parent, which stops children in order


def spawn(
    args: Sequence[str], *, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a child that the kernel terminates if this process dies, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out: IO[bytes] = log.open("ab")
    try:
        return subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
    finally:
        out.close()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 20_000  # below: the registered ports other services may be given


def ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's default otherwise)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1", *, attempts: int = 200) -> int:
    """A port nobody listens on, for a server started after this returns.

    Chosen below the kernel's ephemeral range, not by binding port 0: a port the kernel
    hands out is one it hands out again, as the source port of any outgoing connection,
    and between this choice and the server's bind the stack's own Kafka and HTTP clients
    open connections by the dozen. A port below that range is only ever taken by a server
    that asked for it."""
    low = min(ephemeral_low(), 32_768)
    for _ in range(attempts if low > _LOWEST_PORT + 1 else 0):
        port = _LOWEST_PORT + secrets.randbelow(low - _LOWEST_PORT)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind((host, port))
            return port
    with socket.socket() as s:  # no room below the range: the kernel's choice
        s.bind((host, 0))
        chosen: int = s.getsockname()[1]
        return chosen


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a process that exited and waits for its parent to collect it
    (a zombie) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: the signal test is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def tune_gc_for_throughput() -> None:
    """Collect garbage less often in the hot-path processes (worker, ingest).

    They keep large long-lived state (the stitcher's key index and sessions) and allocate
    many short-lived objects per batch; with CPython's default thresholds (700, 10, 10) the
    collector walks that state over and over, about a third of the worker's stitching time
    on the benchmark. Nothing here relies on cycles being freed promptly.
    """
    gc.collect()
    gc.freeze()  # what exists now (modules, restored state) is never collected again
    gc.set_threshold(50_000, 20, 100)


_PAUSES = [0]  # nested or concurrent pauses: the collector runs again when the last ends


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for work that builds and drops many acyclic
    objects at once (a block of decoded records), which reference counting frees alone.

    Left on, the collector walks every record of a block still being worked on, again and
    again as the block grows (a third of the ingest's CPU per event was once spent so); cycles
    made inside are collected after. Pauses may nest or interleave across coroutines: the
    collector is enabled again when the last one ends, and only if it was enabled before.
    """
    if _PAUSES[0] == 0 and not gc.isenabled():
        yield  # someone else turned it off: leave it so
        return
    _PAUSES[0] += 1
    gc.disable()
    try:
        yield
    finally:
        _PAUSES[0] -= 1
        if _PAUSES[0] == 0:
            gc.enable()


def refuse_taken_port(host: str, port: int) -> None:
    """Raise ``StackError`` when ``host:port`` cannot be listened on (another server holds
    it, or the address is not this machine's), naming the port and what to do."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        probe = socket.socket(family, kind, proto)
    except OSError as exc:  # a name that resolves to nothing, an address family not here
        raise StackError(f"cannot listen on {host}:{port}: {exc}") from None
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise StackError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; stop what listens "
                "there or choose another port (--http-port, AGENTLEDGER_HTTP_PORT)"
            ) from None
