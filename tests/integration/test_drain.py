"""Nothing accepted is lost quietly: `ingest` reports what the ledger holds, `down` drains
the memory-only broker first, a worker that dies while joining is started again, and a
stack that disappears or a broker that dies is reported with what is at risk.

The commands run as a user runs them (subprocesses), except the worker restart, which is
driven on a ``Stack`` so that the kill lands before the worker has joined.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agentledger.sampledata import generate_sessions, write_files
from kernel.errors import StackError
from ledger.chdb_store import ChdbStore
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import ingest, wait_stored
from tests.polling import wait_for

AGENTLEDGER = [sys.executable, "-m", "agentledger"]


def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*AGENTLEDGER, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}{result.stdout}")
    return result


@contextlib.contextmanager
def running_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, dict[str, Any]]]:
    """`agentledger up` in a subprocess, ready; stopped (killed if need be) after."""
    data_dir = tmp_path / "ledger"
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen([*AGENTLEDGER, "up", "--data-dir", str(data_dir)], stdout=log, stderr=log)
    try:

        def ready() -> dict[str, Any] | None:
            assert up.poll() is None, f"up exited: {(tmp_path / 'up.log').read_text()}"
            state = data_dir / "stack.json"
            if (data_dir / "run" / "ready").exists() and state.exists():
                info: dict[str, Any] = json.loads(state.read_text())
                return info
            return None

        yield up, data_dir, wait_for(ready, timeout=90, interval=0.2, what="up to be ready")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.send_signal(signal.SIGINT)  # the second: no drain
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(10)
        log.close()


def ingest_args(data_dir: Path, path: Path, *extra: str) -> list[str]:
    return ["ingest", "--source", path.stem, str(path), "--data-dir", str(data_dir), *extra]


def ledger_events(data_dir: Path, database: str = "agentledger") -> int:
    """Raw events in the stopped ledger at ``data_dir``, read in a process of its own (this
    one holds another chDB path)."""
    code = (
        "from kernel.config import Settings;from ledger.factory import open_store;"
        f"s=open_store(Settings(data_dir={str(data_dir)!r}, database={database!r}));"
        f"print(s.query_rows('SELECT count() AS n FROM {database}.raw_events')[0]['n'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_ingest_waits_for_the_ledger_and_down_drains_what_the_broker_holds(
    tmp_path: Path,
) -> None:
    files = write_files(generate_sessions(60, run_id="drain"), tmp_path / "in")
    more = write_files(generate_sessions(60, run_id="drain-more"), tmp_path / "more")
    with running_up(tmp_path) as (up, data_dir, info):
        # Waited for: exit 0 means the workers committed past every event sent.
        waited = json.loads(
            subprocess.run(
                [*AGENTLEDGER, *ingest_args(data_dir, files["mcp"], "--json")],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
        )
        assert waited["in_ledger"] is True and waited["events"] > 0
        assert waited["events_in_ledger"] == waited["events"] == waited["events_on_broker"]
        assert waited["waited_s"] >= 0

        # The worker is paused: --no-wait returns at once, saying the records are on the
        # broker only; then `down` must drain them before the broker goes.
        worker = psutil.Process(info["workers"][0])
        worker.suspend()
        try:
            on_broker = run(*ingest_args(data_dir, more["mcp"], "--no-wait"))
            assert "only on the broker" in on_broker.stdout
            sent = int(on_broker.stdout.split(" records")[0])
            assert sent > 0
            down = subprocess.Popen(
                [*AGENTLEDGER, "down", "--data-dir", str(data_dir), "--drain-timeout", "45"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # `up` is draining while the worker cannot write: the events are still unwritten.
            wait_for(
                lambda: "draining" in (tmp_path / "up.log").read_text(),
                timeout=20,
                what="up to report what it drains",
            )
        finally:
            worker.resume()
        out, err = down.communicate(timeout=90)
        assert down.returncode == 0, out + err
        assert "drained" in out and "not drained" not in out
        up.wait(30)
        assert up.returncode == 0
    assert ledger_events(data_dir) == waited["events"] + sent


def test_ingest_that_times_out_and_a_stack_that_dies_under_it_say_what_is_at_risk(
    tmp_path: Path,
) -> None:
    files = write_files(generate_sessions(10, run_id="gone"), tmp_path / "in")
    with running_up(tmp_path) as (up, data_dir, info):
        worker = psutil.Process(info["workers"][0])
        worker.suspend()  # nothing is written: ingest waits
        try:
            late = run(
                *ingest_args(data_dir, files["okta"], "--json", "--wait-timeout", "2"), check=False
            )
            assert late.returncode == 3
            timed_out = json.loads(late.stdout)
            assert timed_out["in_ledger"] is False and timed_out["events"] > 0
            assert timed_out["events_not_in_ledger"] == timed_out["events"]
            ingesting = subprocess.Popen(
                [
                    *AGENTLEDGER,
                    *ingest_args(data_dir, files["mcp"], "--json", "--wait-timeout", "60"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(4)  # sent, and waiting
            assert ingesting.poll() is None
            up.kill()
            up.wait(10)  # collected: a zombie does not count as running
            out, _ = ingesting.communicate(timeout=30)
        finally:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
    assert ingesting.returncode != 0
    payload = json.loads(out)
    assert "exited while ingest was waiting for the ledger" in payload["error"]
    assert payload["in_ledger"] is False
    assert payload["events_on_broker"] == payload["events"] > 0
    assert payload["events_at_risk"] == payload["events"]


def test_a_broker_that_dies_stops_up_and_says_what_it_held(tmp_path: Path) -> None:
    with running_up(tmp_path) as (up, data_dir, _):
        broker = next(
            p for p in psutil.Process(up.pid).children() if "broker" in " ".join(p.cmdline())
        )
        broker.kill()
        up.wait(60)
    assert up.returncode == 3
    log = (tmp_path / "up.log").read_text()
    assert "embedded broker exited" in log and "memory only" in log
    report = json.loads((data_dir / "run" / "last-stop.json").read_text())
    assert report["drained"] is False and report["broker_exit_code"] == -signal.SIGKILL


def test_a_worker_killed_while_joining_is_started_again(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    settings = make_settings(tmp_path)
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    try:
        running.call(running.stack.start())
        killed = running.stack.worker_pids()[0]
        os.kill(killed, signal.SIGKILL)  # before it could join its group
        running.call(running.stack.wait_ready())
        assert running.stack.worker_pids()[0] != killed
        files = write_files(generate_sessions(3, run_id="rejoin"), tmp_path / "in")
        report = ingest(running, "okta", files["okta"], batch="rejoin")
        wait_stored(running.store, "rejoin", report.events)
    finally:
        running.stop()


def test_a_worker_that_cannot_start_fails_the_stack_naming_its_log(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    settings = make_settings(tmp_path, drift_model=tmp_path / "no-such-model.skops")
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    try:
        running.call(running.stack.start())
        with pytest.raises(StackError, match=r"worker 0 exited .* 3 times; see .*worker-0\.log"):
            running.call(running.stack.wait_ready())
    finally:
        running.stop()
