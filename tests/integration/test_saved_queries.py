"""The saved analyst queries on a ledger the real pipeline filled (sample sessions from three
sources and a drifting mail session, through the broker, the workers and the scoring
stage): each runs through the store and through the SQL endpoint as the analyst, with the
same answer, and gives what the other read commands give. Then ``agentledger query`` as a
user runs it, and ``bench --queries`` on a small generated ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from agentledger.cli import main
from agentledger.sampledata import generate_sessions, write_files
from ledger.chains import COMPACT_PARTS, chain_ddl, fill_statements
from ledger.chains import TABLE as CHAIN_TABLE
from ledger.chains import VIEWS as CHAIN_VIEWS
from ledger.chdb_store import ChdbStore
from ledger.contractions import list_contractions
from ledger.queries import action_records, labelled, list_actions, session_chain
from ledger.saved_queries import parameter_texts, parse_query, run_saved, saved_queries
from ledger.store import LedgerStore
from tests import scenarios
from tests.drift_records import declaration, injected_session
from tests.integration.conftest import (
    ANALYST_PASSWORD,
    ANALYST_USER,
    RunningStack,
    make_settings,
)
from tests.integration.helpers import (
    declare,
    ingest,
    move_stream_on,
    wait_processed,
    wait_stored,
)
from tests.polling import wait_for

DRIFTING = "s-mail-1"


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, chdb_ledger: ChdbStore
) -> Iterator[LedgerStore]:
    """A ledger the pipeline filled, its stack stopped once everything is stored."""
    tmp_path = tmp_path_factory.mktemp("saved")
    settings = make_settings(tmp_path)
    store = chdb_ledger.with_database(settings.database)
    running = RunningStack(settings, store)
    running.start()
    try:
        items = scenarios.all_scenarios()  # direct, delegated, autonomous, a two-agent chain
        for body in [declaration([]), *(d for s in items for d in s.declarations)]:
            declare(running, body)
        wait_for(
            lambda: store.count("declarations", "session_id = {s:String}", {"s": DRIFTING}),
            timeout=60,
            what="the declaration in the ledger",
        )
        files = {
            f"sample-{source}": (source, path)
            for source, path in write_files(
                generate_sessions(3, run_id="saved"), tmp_path / "in"
            ).items()
        }
        records = {"mcp-drift": ("mcp", injected_session().records["mcp"])}
        for source in ("okta", "mcp", "envoy"):
            records[f"scenarios-{source}"] = (
                source,
                [r for s in items for r in s.records.get(source, [])],
            )
        for name, (source, lines) in records.items():
            path = tmp_path / f"{name}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
            files[name] = (source, path)
        for name, (source, path) in files.items():
            report = ingest(running, source, path, batch=f"saved-{name}")
            assert report.rejected == 0, name
            wait_stored(store, f"saved-{name}", report.events)
        # The token exchanges decided, their sessions merged into the tokens' (whose
        # actions are labelled again in the session that survived).
        move_stream_on(running, tmp_path / "later")
        wait_processed(running)
        wait_for(lambda: store.count("contractions"), timeout=60, what="the contraction")
    finally:
        running.stop()
    yield store


def _endpoint(url: str, sql: str, params: dict[str, str], database: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` run as the analyst over HTTP, values as ``param_<name>``."""
    query = {f"param_{k}": v for k, v in params.items()}
    query.update(database=database, default_format="JSONEachRow")
    reply = httpx.post(
        url, params=query, content=sql.encode(), auth=(ANALYST_USER, ANALYST_PASSWORD), timeout=60
    )
    assert reply.status_code == 200, reply.text
    return [orjson.loads(line) for line in reply.content.splitlines() if line]


def _params(store: LedgerStore) -> dict[str, dict[str, str]]:
    """Parameters for each saved query that pick rows the seeded ledger holds."""
    db = store.database
    [agent] = store.query_rows(
        f"SELECT agent_name FROM {db}.actions FINAL WHERE agent_name != '' "
        "GROUP BY agent_name ORDER BY count() DESC, agent_name LIMIT 1"
    )
    [person] = store.query_rows(
        f"SELECT origin_principal FROM {db}.attributions FINAL WHERE origin_type = 'human' "
        "GROUP BY origin_principal ORDER BY count() DESC, origin_principal LIMIT 1"
    )
    return {
        "session_chain": {"session_id": DRIFTING},
        "agent_actions": {"agent": agent["agent_name"]},
        "person_actions": {"person": person["origin_principal"]},
    }


def test_every_saved_query_answers_alike_through_the_store_and_as_the_analyst(
    seeded: LedgerStore, ledger_http: str
) -> None:
    params = _params(seeded)
    answers: dict[str, list[dict[str, Any]]] = {}
    for name, query in saved_queries().items():
        given = params.get(name, {})
        through_store = run_saved(seeded, query, given)
        as_analyst = _endpoint(
            f"http://{ledger_http}/",
            query.sql(seeded.database),
            parameter_texts(query.bind(given)),
            seeded.database,
        )
        assert through_store, f"{name} found nothing in the seeded ledger"
        assert as_analyst == through_store, name
        answers[name] = through_store

    # The chain is the one `sessions show` gives: the same actions in the same order, each
    # with the same label, drift score and outcome.
    shown = session_chain(seeded, DRIFTING)
    chain = answers["session_chain"]
    assert [r["action_id"] for r in chain] == [a["action_id"] for a in shown.actions]
    for row, action in zip(chain, shown.actions, strict=True):
        assert row["session_id"] == shown.session["session_id"]
        assert row["intent"] == shown.session["intent"]
        assert row["label"] == action["attribution"]["label"]
        assert row["outcome"] == action["outcome"]["status"]
        if action["drift"] is None:
            assert row["drift_score"] is None
        else:
            assert round(row["drift_score"], 4) == action["drift"]["score"]
            assert row["decision"] == action["decision"]
    assert any(r["drift_flagged"] for r in chain), "the injected send drifted"

    # The injected send is among the furthest drifts, and its contraction removed what it used.
    [injected] = [r for r in chain if r["drift_flagged"]]
    scores = [r["drift_score"] for r in answers["top_drift"]]
    assert scores == sorted(scores, reverse=True)
    assert injected["action_id"] in {r["action_id"] for r in answers["top_drift"]}
    listed = list_contractions(seeded)
    assert [c["contraction_id"] for c in answers["contractions"]] == [
        c["contraction_id"] for c in listed
    ]
    [contraction] = [c for c in answers["contractions"] if c["session_id"] == DRIFTING]
    assert contraction["cause_action_id"] == injected["action_id"]
    assert contraction["removed_tools"] or contraction["removed_scopes"]

    # Actions nobody stands behind: those `actions list --label` gives for the two labels.
    unattributed = {
        a["action_id"]
        for label in ("unattributed", "agent_autonomous")
        for a in list_actions(seeded, label=label, limit=10_000)
    }
    assert {r["action_id"] for r in answers["unattributed_actions"]} == unattributed
    assert {r["label"] for r in answers["unattributed_actions"]} <= {
        "unattributed",
        "agent_autonomous",
    }

    agent = params["agent_actions"]["agent"]
    assert {r["agent_name"] for r in answers["agent_actions"]} == {agent}
    times = [r["event_time"] for r in answers["agent_actions"]]
    assert times == sorted(times)

    person = params["person_actions"]["person"]
    assert all(person in (r["principal"], r["origin_principal"]) for r in answers["person_actions"])
    for row in answers["scopes_by_agent"]:
        assert set(row["unused"]) == set(row["granted"]) - set(row["used"])
    mail_agent = next(r for r in answers["scopes_by_agent"] if r["agent"] == "mail-agent")
    assert {"mail.read", "mail.send"} <= set(mail_agent["granted"])


def _cli(ledger_http: str, store: LedgerStore, *args: str) -> Any:
    url = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"
    env = {"AGENTLEDGER_DATABASE": store.database}
    return CliRunner().invoke(main, ["query", *args, "--clickhouse", url], env=env)


def test_the_query_command_lists_runs_and_refuses_by_name(
    seeded: LedgerStore, ledger_http: str, tmp_path: Path
) -> None:
    listed = CliRunner().invoke(main, ["query", "--list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    entries = {e["name"]: e for e in json.loads(listed.output)}
    assert set(entries) == set(saved_queries())
    assert entries["session_chain"]["parameters"][0]["type"] == "String"

    as_json = _cli(
        ledger_http,
        seeded,
        "session_chain",
        "--param",
        f"session_id={DRIFTING}",
        "--format",
        "json",
    )
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [r["action_id"] for r in rows] == [
        a["action_id"] for a in session_chain(seeded, DRIFTING).actions
    ]

    output = tmp_path / "contractions.csv"
    as_csv = _cli(ledger_http, seeded, "contractions", "--format", "csv", "--output", str(output))
    assert as_csv.exit_code == 0, as_csv.output
    header, *lines = output.read_text().splitlines()
    assert header.split(",")[:3] == ["contraction_id", "decided_at", "session_id"]
    assert len(lines) == len(list_contractions(seeded)) and any(DRIFTING in x for x in lines)

    nothing = _cli(
        ledger_http, seeded, "session_chain", "--param", "session_id=s-nope", "--format", "csv"
    )
    assert nothing.exit_code == 0 and nothing.output.startswith("session_id,origin_type,")

    unknown = _cli(ledger_http, seeded, "no_such_query")
    assert unknown.exit_code == 2 and "no saved query 'no_such_query'" in unknown.output
    missing = _cli(ledger_http, seeded, "agent_actions")
    assert missing.exit_code == 2 and "needs parameter 'agent'" in missing.output
    wrong = _cli(ledger_http, seeded, "top_drift", "--param", "limit=lots")
    assert wrong.exit_code == 2 and "parameter 'limit' (UInt32)" in wrong.output
    parquet = _cli(ledger_http, seeded, "contractions", "--format", "parquet")
    assert parquet.exit_code == 2 and "--output" in parquet.output


def test_bench_queries_times_each_saved_query(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentledger",
            "bench",
            "--queries",
            "--actions",
            "20000",
            "--repeat",
            "2",
            "--min-time",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["actions"] == 20_000 and figures["repeat"] == 2
    assert set(figures["queries"]) == set(saved_queries())
    for name, timing in figures["queries"].items():
        assert set(timing) == {
            "first_ms",
            "first_cpu_ms",
            "p50_ms",
            "p95_ms",
            "max_ms",
            "cpu_p50_ms",
            "cpu_p95_ms",
            "runs",
            "rows_mean",
        }, name
        assert timing["runs"] == 2 and 0 < timing["p50_ms"] <= timing["p95_ms"], name
        assert timing["first_ms"] > 0, name
        assert 0 < timing["cpu_p50_ms"] <= timing["cpu_p95_ms"], name
    assert figures["queries"]["session_chain"]["rows_mean"] > 0
    assert {"load_1m", "cpus"} <= set(figures["machine"])
    assert "loaded 20,000 actions" in result.stderr


def _chain_ids(store: LedgerStore) -> list[str]:
    """Every session id a chain can be asked by: each session, and each merged into one."""
    db = store.database
    rows = store.query_rows(
        f"SELECT session_id AS id FROM {db}.sessions UNION DISTINCT "
        f"SELECT alias_id AS id FROM {db}.session_aliases"
    )
    return sorted(str(r["id"]) for r in rows)


def _chains_alike(store: LedgerStore, ids: list[str]) -> None:
    """The session-ordered chain gives, for every id, what reading by action id gave."""
    by_id = parse_query("session_chain", (Path(__file__).parent / BY_ID).read_text())
    chain = saved_queries()["session_chain"]
    for session_id in ids:
        before = run_saved(store, by_id, {"session_id": session_id})
        assert before, session_id
        assert run_saved(store, chain, {"session_id": session_id}) == before, session_id
        # `sessions show` and the chain page find the chain's actions through the table too.
        shown = session_chain(store, session_id)
        members = [shown.session["session_id"], *(a["alias_id"] for a in shown.aliases)]
        by_session = store.query_rows(
            labelled(store.database, "session_id IN {ids:Array(String)}")
            + " ORDER BY event_time, action_id",
            {"ids": members},
        )
        assert shown.actions == action_records(store, by_session), session_id


BY_ID = "session_chain_by_id.sql"


def test_the_session_ordered_chain_answers_as_the_chain_read_by_action_id(
    seeded: LedgerStore, ledger_http: str
) -> None:
    db = seeded.database
    ids = _chain_ids(seeded)
    # The ledger holds what can make the two differ: sessions merged into others, and
    # actions labelled again in the session that survived the merge.
    aliases = seeded.query_rows(f"SELECT alias_id, session_id FROM {db}.session_aliases FINAL")
    assert aliases
    [again] = seeded.query_rows(
        f"SELECT countIf(t.session_id != a.session_id) AS labels FROM"
        f" (SELECT action_id, argMax(session_id, version) AS session_id"
        f"  FROM {db}.actions GROUP BY action_id) AS a"
        f" JOIN (SELECT action_id, argMax(session_id, version) AS session_id"
        f"  FROM {db}.attributions GROUP BY action_id) AS t USING action_id"
    )
    assert int(again["labels"]) > 0
    _chains_alike(seeded, ids)

    # As the analyst, through the endpoint, a merged session gives the surviving one's chain.
    alias = str(aliases[0]["alias_id"])
    chain = saved_queries()["session_chain"]
    as_analyst = _endpoint(
        f"http://{ledger_http}/",
        chain.sql(db),
        parameter_texts(chain.bind({"session_id": alias})),
        db,
    )
    assert as_analyst == run_saved(seeded, chain, {"session_id": aliases[0]["session_id"]})

    # A ledger from before the chain table gains it, filled with what its tables hold.
    for view in CHAIN_VIEWS:
        seeded.command(f"DROP VIEW {db}.{view}")
    seeded.command(f"DROP TABLE {db}.{CHAIN_TABLE}")
    seeded.ensure_schema()
    _chains_alike(seeded, ids)

    # A chain table from before compact parts gains the setting, and keeps what it holds.
    def chain_table_ddl() -> str:
        [table] = seeded.query_rows(
            "SELECT create_table_query AS q FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}",
            {"db": db, "t": CHAIN_TABLE},
        )
        return str(table["q"])

    assert COMPACT_PARTS in chain_table_ddl()
    for view in CHAIN_VIEWS:
        seeded.command(f"DROP VIEW {db}.{view}")
    seeded.command(f"DROP TABLE {db}.{CHAIN_TABLE}")
    seeded.command(chain_ddl(db)[0].replace(f", {COMPACT_PARTS}", ""))
    assert COMPACT_PARTS not in chain_table_ddl()
    for statement in fill_statements(db):
        seeded.command(statement)
    seeded.ensure_schema()
    assert COMPACT_PARTS in chain_table_ddl()
    _chains_alike(seeded, ids)

    # Relabelled, answered and scored again: a later version of an action's row, its label
    # and its drift, written as the worker writes them, is the one both give.
    [action] = seeded.query_rows(
        f"SELECT * FROM {db}.actions FINAL WHERE session_id = {{s:String}} "
        f"AND action_id IN (SELECT action_id FROM {db}.drift) ORDER BY event_time LIMIT 1",
        {"s": DRIFTING},
    )
    later = int(action["version"]) + 1
    [label] = seeded.query_rows(
        f"SELECT * FROM {db}.attributions FINAL WHERE action_id = {{a:String}}",
        {"a": action["action_id"]},
    )
    [drift] = seeded.query_rows(
        f"SELECT * FROM {db}.drift FINAL WHERE action_id = {{a:String}}",
        {"a": action["action_id"]},
    )
    seeded.insert_rows("actions", [{**action, "outcome": "failure", "version": later}])
    seeded.insert_rows("attributions", [{**label, "label": "unattributed", "version": later}])
    rescored = int(drift["version"]) + 1
    seeded.insert_rows(
        "drift", [{**drift, "score": 0.125, "decision": "halt", "version": rescored}]
    )
    [shown] = [
        r
        for r in run_saved(seeded, chain, {"session_id": DRIFTING})
        if r["action_id"] == action["action_id"]
    ]
    assert (shown["outcome"], shown["label"]) == ("failure", "unattributed")
    assert (shown["drift_score"], shown["decision"]) == (0.125, "halt")
    _chains_alike(seeded, ids)
