"""``agentledger bench --queries``: the saved analyst queries against a large generated ledger.

It fills a fresh scratch ledger (chDB, in a temporary directory) with ``actions`` generated
actions and everything that goes with them (``agentledger.bench_data``), serves it through
the ledger's own ClickHouse HTTP interface, and runs each saved query as the analyst would:
over HTTP, with the analyst's credential, values as ``param_<name>`` URL parameters, with
parameters drawn from the generated ledger (an existing session, an agent, a person, a
one-day window). Every dashboard panel's query runs too, its Grafana macros expanded as the
data source would over the generated ledger's last day (``agentledger.panels``).

Each query's first run is timed apart (``first_ms``): it is the only one that loads the
parts' marks and primary index and has the endpoint check the statement, which a ledger
that analysts use has done long before. The percentiles are of the runs after it: at least
``repeat``, and more for a fast query, until ``min_seconds`` have gone or ``max_runs`` are in
(the command's defaults: ``agentledger.cli_query``), so that a p95 is not just the second
slowest of twenty.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from rich.console import Console

from agentledger.bench_data import Sample, load_ledger
from agentledger.panels import panel_queries as dashboard_panel_queries
from kernel.errors import StackError
from kernel.procs import free_port
from ledger.saved_queries import SavedQuery, parameter_texts, saved_queries

DATABASE = "bench_queries"
ANALYST = "bench_analyst"
SETTLE_S = 600.0

Draw = Callable[[np.random.Generator], dict[str, str]]
Run = tuple[float, int, float]  # one request: wall ms, rows, CPU ms


def panel_queries(sample: Sample) -> list[tuple[str, str]]:
    """Every dashboard panel's SQL as Grafana would send it over the generated ledger's last
    day: its database, and one of its sessions in the session explorer."""
    end = sample.start + timedelta(seconds=sample.span_s)
    session = str(sample.session_ids[len(sample.session_ids) // 2])
    return dashboard_panel_queries(
        variables={"database": DATABASE, "session_id": session},
        time_from=end - timedelta(days=1),
        time_to=end,
    )


def parameter_draw(query: SavedQuery, sample: Sample) -> Draw:
    """Realistic values for ``query``'s parameters, drawn afresh for each run: an existing
    session, agent or person, and a one-day window inside the generated span. A parameter
    with a default and no drawing rule keeps its default."""
    names = {p.name for p in query.parameters}

    def draw(rng: np.random.Generator) -> dict[str, str]:
        values: dict[str, str] = {}
        if "session_id" in names:
            values["session_id"] = str(sample.session_ids[rng.integers(len(sample.session_ids))])
        if "agent" in names:
            values["agent"] = sample.agents[int(rng.integers(len(sample.agents)))]
        if "person" in names:
            values["person"] = sample.persons[int(rng.integers(len(sample.persons)))]
        if "since" in names and "until" in names:
            day = int(rng.integers(max(1, sample.span_s // 86_400 - 1)))
            since = sample.start + timedelta(days=day)
            values["since"] = since.isoformat()
            values["until"] = (since + timedelta(days=1)).isoformat()
        missing = [p.name for p in query.parameters if p.default is None and p.name not in values]
        if missing:
            raise StackError(f"the bench cannot draw parameter {missing[0]!r} of {query.name}")
        return values

    return draw


@contextlib.contextmanager
def analyst_endpoint(store: Any) -> Iterator[tuple[str, tuple[str, str]]]:
    """The ledger's HTTP interface over ``store`` on a loopback port, with credentials
    made up for this run (never shown): its URL and the analyst's (user, password)."""
    import uvicorn

    from ledger.http_front import Credentials, build_app

    password = secrets.token_urlsafe(24)
    app = build_app(store, Credentials(secrets.token_urlsafe(24), ANALYST, password))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise StackError("the bench's ledger HTTP interface did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", (ANALYST, password)
    finally:
        server.should_exit = True
        thread.join(10)


def timed_run(
    client: httpx.Client, url: str, sql: str, params: dict[str, str], database: str
) -> Run:
    """One analyst request: its wall time in ms, the rows it returned, and the CPU ms this
    process spent on it (client, endpoint and engine all run here; on a shared machine the
    CPU time moves far less with other work than the wall time does)."""
    query = {f"param_{k}": v for k, v in params.items()}
    query.update(database=database, default_format="JSONEachRow")
    cpu = time.process_time()
    started = time.perf_counter()
    reply = client.post(url, params=query, content=sql.encode())
    elapsed = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    if reply.status_code != 200:
        raise StackError(f"the endpoint refused a bench query ({reply.status_code}): {reply.text}")
    return elapsed, reply.content.count(b"\n"), cpu_ms


def _percentile(values: list[float], share: float) -> float:
    return round(float(np.percentile(values, share * 100)), 1)


def measure(
    run: Callable[[], Run],
    repeat: int,
    *,
    min_seconds: float,
    max_runs: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[Run, list[Run]]:
    """One query's first run, and the timed runs after it: at least ``repeat`` (never more
    than ``max(repeat, max_runs)``), and more while ``min_seconds`` have not gone."""
    first = run()
    runs: list[Run] = []
    started = clock()
    most = max(repeat, max_runs)
    while len(runs) < repeat or (len(runs) < most and clock() - started < min_seconds):
        runs.append(run())
    return first, runs


def figures_of(first: Run, runs: list[Run]) -> dict[str, Any]:
    """The percentiles of ``runs`` and, apart, the first run's wall and CPU time."""
    return {
        **_figures(runs),
        "first_ms": round(first[0], 1),
        "first_cpu_ms": round(first[2], 1),
    }


def _figures(runs: list[Run]) -> dict[str, Any]:
    times = [t for t, _, _ in runs]
    cpu = [c for _, _, c in runs]
    return {
        "p50_ms": _percentile(times, 0.5),
        "p95_ms": _percentile(times, 0.95),
        "max_ms": round(max(times), 1),
        "cpu_p50_ms": _percentile(cpu, 0.5),
        "cpu_p95_ms": _percentile(cpu, 0.95),
        "runs": len(times),
        "rows_mean": round(statistics.fmean(n for _, n, _ in runs), 1),
    }


def settle(store: Any, console: Console | None) -> float:
    """Until the engine has no merge running in the scratch database (at most
    ``SETTLE_S``): a live ledger of that size has had its parts merged long before anyone
    queries it, and merges running beside the queries would be timed with them."""
    started = time.perf_counter()
    while time.perf_counter() - started < SETTLE_S:
        rows = store.query_rows(
            "SELECT count() AS n FROM system.merges WHERE database = {db:String}",
            {"db": DATABASE},
        )
        if not int(rows[0]["n"]):
            break
        time.sleep(1)
    seconds = time.perf_counter() - started
    if console is not None:
        console.print(f"merges settled in {seconds:.1f} s")
    return seconds


def _show(console: Console | None, name: str, figures: dict[str, Any]) -> None:
    if console is not None:
        console.print(
            f"{name} p50 {figures['p50_ms']:>9.1f} ms  p95 {figures['p95_ms']:>9.1f} ms  "
            f"CPU p50 {figures['cpu_p50_ms']:>9.1f} ms  "
            f"({figures['runs']} runs; first {figures['first_ms']:.1f} ms)"
        )


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_1m": round(load1, 2),
        "load_5m": round(load5, 2),
        "cpu_percent": psutil.cpu_percent(interval=0.5),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_query_bench(
    actions: int,
    repeat: int,
    *,
    console: Console | None,
    min_seconds: float,
    max_runs: int,
    seed: int = 11,
) -> dict[str, Any]:
    """Load ``actions`` generated actions into a scratch ledger and time every saved query
    (and every panel query) through the analyst endpoint (see ``measure``)."""
    from ledger.chdb_store import ChdbStore

    if actions < 1 or repeat < 1:
        raise StackError("--actions and --repeat must be at least 1")
    rng = np.random.default_rng(seed)
    timed = partial(measure, repeat=repeat, min_seconds=min_seconds, max_runs=max_runs)
    queries = saved_queries()
    with tempfile.TemporaryDirectory(prefix="agentledger-bench-queries-") as scratch:
        store = ChdbStore(Path(scratch) / "chdb", DATABASE)
        try:
            started = time.perf_counter()

            def progress(what: str, done: int) -> None:
                if console is not None:
                    seconds = time.perf_counter() - started
                    console.print(f"loaded {done:,} {what} in {seconds:.1f} s")

            sample = load_ledger(store, actions, progress)
            load_s = time.perf_counter() - started
            settle_s = settle(store, console)
            parts = store.query_rows(
                "SELECT table, count() AS parts FROM system.parts WHERE active "
                "AND database = {db:String} GROUP BY table ORDER BY table",
                {"db": DATABASE},
            )
            panels = panel_queries(sample)
            results: dict[str, Any] = {}
            load = machine()
            with (
                analyst_endpoint(store) as (url, auth),
                httpx.Client(auth=auth, timeout=300) as client,
            ):
                for name, saved in queries.items():
                    draw = parameter_draw(saved, sample)
                    sql = saved.sql(DATABASE)

                    def drawn(sql: str = sql, saved: SavedQuery = saved, draw: Draw = draw) -> Run:
                        values = parameter_texts(saved.bind(draw(rng)))
                        return timed_run(client, url, sql, values, DATABASE)

                    results[name] = figures_of(*timed(drawn))
                    _show(console, name.ljust(24), results[name])
                panel_results: dict[str, Any] = {}
                for name, sql in panels:

                    def panel(sql: str = sql) -> Run:
                        return timed_run(client, url, sql, {}, DATABASE)

                    panel_results[name] = figures_of(*timed(panel))
                    _show(console, name.ljust(60), panel_results[name])
        finally:
            store.close()
    return {
        "actions": actions,
        "sessions": len(sample.session_ids),
        "repeat": repeat,
        "min_seconds": min_seconds,
        "max_runs": max_runs,
        "load_seconds": round(load_s, 1),
        "load_actions_per_s": round(actions / load_s),
        "settle_seconds": round(settle_s, 1),
        "parts": {row["table"]: int(row["parts"]) for row in parts},
        "queries": results,
        "panels": panel_results,
        "machine": load,
        "machine_after": machine(),
    }
