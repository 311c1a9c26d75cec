"""The commands as a user runs them: up, status, ingest, sessions, down, demo."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from agentledger.sampledata import generate_sessions, write_files
from kernel import native
from tests.polling import wait_for

AGENTLEDGER = [sys.executable, "-m", "agentledger"]


def run(
    *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*AGENTLEDGER, *args], capture_output=True, text=True, timeout=timeout, input=stdin
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}{result.stdout}")
    return result


def _wait_up(data_dir: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        assert proc.poll() is None, "agentledger up exited early"
        status = run("status", "--data-dir", str(data_dir), "--json", check=False)
        if status.returncode == 0 and (data_dir / "run" / "ready").exists():
            payload: dict[str, Any] = json.loads(status.stdout)
            return payload
        return None

    return wait_for(ready, timeout=timeout, interval=0.3, what="agentledger up to become ready")


def _sessions(data_dir: Path) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(
        run("sessions", "list", "--json", "--data-dir", str(data_dir)).stdout
    )
    return listed


def _wait_events(data_dir: Path, expected: int) -> list[dict[str, Any]]:
    """Until the sessions listed hold ``expected`` events in all; the sessions."""
    sessions = wait_for(
        lambda: _sessions(data_dir),
        until=lambda listed: sum(s["event_count"] for s in listed) >= expected,
        timeout=60,
        interval=0.3,
        what=f"sessions holding {expected} events",
    )
    assert sum(s["event_count"] for s in sessions) == expected
    return sessions


def test_up_ingest_sessions_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "ledger"
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen([*AGENTLEDGER, "up", "--data-dir", str(data_dir)], stdout=log, stderr=log)
    try:
        status = _wait_up(data_dir, up)
        assert status["running"] and status["embedded_broker"] and status["embedded_ledger"]
        assert status["bootstrap"].startswith("127.0.0.1:")
        assert status["http_url"].startswith("http://127.0.0.1:")
        # Where the analyst logs in, and where the password is kept: never the password.
        assert (status["sql_url"], status["sql_user"]) == (status["http_url"], "analyst")
        password_file = Path(status["sql_password_file"])
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
        secrets = [password_file.read_text().strip()]
        secrets.append(Path(status["api_key_file"]).read_text().strip())
        state_text = (data_dir / "stack.json").read_text()
        for secret in secrets:
            assert len(secret) >= 30
            assert secret not in state_text and secret not in json.dumps(status)
        # Nobody declares without a credential; the command line sends its own.
        anonymous = urllib.request.Request(
            f"{status['http_url']}/v1/sessions", data=b"{}", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as no_credential:
            urllib.request.urlopen(anonymous, timeout=10)
        assert no_credential.value.code == 401
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 2  # the broker and a worker
        # Nothing the ledger starts listens beyond loopback.
        listening = [
            c.laddr
            for proc in [psutil.Process(up.pid), *children]
            for c in proc.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert len(listening) >= 2  # the API and ledger interface, the broker
        assert {addr.ip for addr in listening} <= {"127.0.0.1", "::1"}

        # A second `up` on the same data directory is refused with a clear message.
        second = run("up", "--data-dir", str(data_dir), check=False, timeout=60)
        assert second.returncode == 2 and "already runs" in second.stderr

        files = write_files(generate_sessions(3, run_id="cli"), tmp_path / "in")
        accepted = 0
        for source, path in files.items():
            report = json.loads(
                run(
                    "ingest", "--source", source, str(path), "--data-dir", str(data_dir), "--json"
                ).stdout
            )
            assert report["rejected"] == 0 and report["accepted"] > 0
            accepted += report["events"]
        # stdin, with one bad line: counted and explained, the good one accepted.
        okta_line = files["okta"].read_text().splitlines()[0]
        piped = json.loads(
            run(
                "ingest",
                "--source",
                "okta",
                "-",
                "--data-dir",
                str(data_dir),
                "--json",
                stdin=okta_line + "\n{not json\n",
            ).stdout
        )
        assert (piped["accepted"], piped["rejected"]) == (1, 1)
        assert list(piped["reasons"]) == ["invalid JSON"]

        sessions = _wait_events(data_dir, accepted)
        agent = next(s for s in sessions if s["agent_name"])

        def show() -> dict[str, Any]:
            return dict(
                json.loads(
                    run(
                        "sessions", "show", agent["session_id"], "--json", "--data-dir",
                        str(data_dir),
                    ).stdout
                )
            )  # fmt: skip

        # Its STS exchange names only the token's identity: decided once the stream has
        # been idle for AGENTLEDGER_EXCHANGE_IDLE_S (10 s), its AWS calls then in the chain.
        shown = wait_for(
            show,
            until=lambda chain: "cloudtrail" in {a["source"] for a in chain["actions"]},
            timeout=60,
            interval=1,
            what="the agent's AWS calls in its chain",
        )
        assert shown["session"]["session_id"] == agent["session_id"]
        assert {a["source"] for a in shown["actions"]} == {"okta", "mcp", "cloudtrail"}
        tree = run("sessions", "show", agent["session_id"], "--data-dir", str(data_dir)).stdout
        for label in ("agent:", "origin:", "intent:", "scope:", "actions", "outcome:"):
            assert label in tree
        missing = run("sessions", "show", "s-nope", "--data-dir", str(data_dir), check=False)
        assert missing.returncode == 2 and "no session 's-nope'" in missing.stderr

        # The chain page of that session: its address, which asks a browser to sign in first;
        # its JSON, to the command line's key.
        where = json.loads(
            run("page", agent["session_id"], "--json", "--data-dir", str(data_dir)).stdout
        )
        assert where["url"] == f"{status['http_url']}/ui/sessions/{agent['session_id']}"
        with httpx.Client() as http:
            page = http.get(where["url"], follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"] == "/ui/sign-in"
            key = Path(status["api_key_file"]).read_text().strip()

            def both() -> tuple[list[Any], list[Any]]:
                chain = http.get(
                    f"{status['http_url']}/api/sessions/{agent['session_id']}",
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert chain.status_code == 200
                return chain.json()["actions"], show()["actions"]

            # The same chain both ways. Read again while it still changes: the exchange is
            # decided once the stream idles, and its session merged and relabelled then,
            # which can fall between two reads.
            wait_for(
                both,
                until=lambda pair: pair[0] == pair[1],
                timeout=30,
                interval=1,
                what="the page's chain and the command line's to agree",
            )

        # Actions with their label, and one label explained.
        listed = json.loads(
            run(
                "actions",
                "list",
                "--session",
                agent["session_id"],
                "--json",
                "--data-dir",
                str(data_dir),
            ).stdout
        )
        assert {a["session"]["session_id"] for a in listed} == {agent["session_id"]}
        assert all(a["attribution"]["label"] for a in listed)
        table = run("actions", "list", "--data-dir", str(data_dir)).stdout
        newest = json.loads(run("actions", "list", "--json", "--data-dir", str(data_dir)).stdout)
        assert "label" in table and newest[0]["action_id"][:12] in table
        tool_call = next(a for a in listed if a["kind"] == "tool_call")
        why = run("explain", tool_call["action_id"][:12], "--data-dir", str(data_dir)).stdout
        assert tool_call["attribution"]["label"] in why and "why:" in why
        assert tool_call["attribution"]["evidence"], "a label without evidence explains nothing"
        for item in tool_call["attribution"]["evidence"]:
            assert item["detail"][:40] in " ".join(why.split())
        unknown = run("explain", "ffffffffffff", "--data-dir", str(data_dir), check=False)
        assert unknown.returncode == 2 and "no action 'ffffffffffff'" in unknown.stderr
        nowhere = run(
            "actions", "list", "--session", "s-nope", "--data-dir", str(data_dir), check=False
        )
        assert nowhere.returncode == 2 and "no session 's-nope'" in nowhere.stderr

        # Declarations from stdin: a good one is declared, a bad one names its field.
        good = {
            "session_id": "s-cli-declared",
            "agent": {"id": "support-agent"},
            "origin": {"type": "schedule", "job_id": "nightly-sync"},
            "intent": {"text": "Sync customers"},
            "bindings": {"txn": "txn-cli-1"},
        }
        bad = {**good, "origin": {"type": "schedule"}}
        declared = run(
            "sessions",
            "declare",
            "-",
            "--data-dir",
            str(data_dir),
            "--json",
            check=False,
            stdin=json.dumps(good) + "\n" + json.dumps(bad) + "\n",
        )
        assert declared.returncode == 1
        assert json.loads(declared.stdout) == [
            {"position": "stdin:1", "session_id": "s-cli-declared"},
            {
                "position": "stdin:2",
                "error": "origin.job_id: required when origin.type is 'schedule'",
                "field": "origin.job_id",
            },
        ]

        # A worker that dies is started again, and the path goes on.
        old_worker = status["workers"][0]
        os.kill(old_worker, signal.SIGKILL)
        workers = wait_for(
            lambda: json.loads(run("status", "--data-dir", str(data_dir), "--json").stdout)[
                "workers"
            ],
            until=lambda pids: bool(pids) and pids[0] != old_worker,
            timeout=30,
            interval=0.3,
            what=f"a worker started in place of {old_worker}",
        )
        assert psutil.pid_exists(workers[0])
        more = write_files(generate_sessions(2, run_id="cli-after"), tmp_path / "more")
        added = json.loads(
            run(
                "ingest",
                "--source",
                "okta",
                str(more["okta"]),
                "--data-dir",
                str(data_dir),
                "--json",
            ).stdout
        )["events"]
        _wait_events(data_dir, accepted + added)
        accepted += added
        children = psutil.Process(up.pid).children(recursive=True)

        refused = run("rebuild", "--data-dir", str(data_dir), check=False)
        assert refused.returncode == 2 and "agentledger down" in refused.stderr

        run("down", "--data-dir", str(data_dir))
        up.wait(30)
        assert up.returncode == 0
        logs = [p.read_text(errors="replace") for p in (data_dir / "logs").glob("*.log")]
        assert logs and not [s for s in secrets for text in logs if s in text]
        rebuilt = json.loads(run("rebuild", "--data-dir", str(data_dir), "--json").stdout)
        assert rebuilt == {
            "events": accepted,  # the piped line repeats a stored record: nothing added
            "declarations": 1,  # s-cli-declared
            "unparseable": 0,
            "sessions": rebuilt["sessions"],
        }
        assert rebuilt["sessions"] >= len(sessions)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert run("status", "--data-dir", str(data_dir), check=False).returncode == 1
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            up.wait(30)
        log.close()


def test_ingest_without_a_running_ledger_says_how_to_start_one(tmp_path: Path) -> None:
    result = run(
        "ingest", "--source", "okta", "-", "--data-dir", str(tmp_path), check=False, stdin=""
    )
    assert result.returncode == 2
    assert "agentledger up" in result.stderr


def test_demo_ends_with_a_chain_across_the_three_sources(tmp_path: Path) -> None:
    env = dict(os.environ)
    result = subprocess.run(
        [*AGENTLEDGER, "demo", "--data-dir", str(tmp_path / "demo"), "--sessions", "8", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    payload = json.loads(result.stdout)
    chain = payload["chain"]
    assert {a["source"] for a in chain["actions"]} == {"okta", "mcp", "cloudtrail"}
    kinds = {a["kind"] for a in chain["actions"]}
    assert {"token_grant", "tool_call", "api_call"} <= kinds
    # The showcase task: Okta, MCP (replies without headers) and AWS, one session, its STS
    # exchange joined by the web identity it names, every tool call answered.
    federated = payload["federated_chain"]
    assert {a["source"] for a in federated["actions"]} == {"okta", "mcp", "cloudtrail"}
    exchanges = [a for a in federated["actions"] if a["operation"] == "AssumeRoleWithWebIdentity"]
    assert exchanges
    # Joined by the inference either as it arrived (its own link) or, when the worker saw it
    # before any event of the token, by the merge once the token was seen (an alias).
    inferred = [e["link"] for e in exchanges] + [
        {"rule": m["rule"], "key": m["key_value"]} for m in federated["merged_sessions"]
    ]
    assert any(
        link["rule"] == "web_identity_inferred"
        and link["key"].startswith("inferred from identity and time")
        for link in inferred
    ), inferred
    calls = [a for a in federated["actions"] if a["kind"] == "tool_call"]
    # Answered, not necessarily successful: the sample data refuses some AWS calls
    # (AccessDenied, ``sampledata.common.ACCESS_DENIED_RATE``), and the showcase's tool
    # calls reach AWS, so a demo run now and then shows one answered with a failure.
    unanswered = [
        (a["source_id"], a["event_time"], a["outcome"])
        for a in calls
        if not a["outcome"]["event_id"] or a["outcome"]["status"] not in {"success", "failure"}
    ]
    assert calls and not unanswered, unanswered
    assert payload["ingest"]["mcp"]["rejected"] == 1  # the demo's deliberately broken line
    assert payload["ledger"]["dead_letters"] >= 1
    # The control loop: the injected send is scored and contracted, and the gateway refuses
    # the agent's next call naming the contraction; that call never reached the mailbox.
    loop = payload["control_loop"]
    assert "archive-desk@quietmirror.example" in loop["injected_result"]
    [contraction] = loop["contractions"]
    cause = next(d for d in loop["drift"] if d["action_id"] == contraction["cause_action_id"])
    assert cause["tool"] == "send_email" and cause["flagged"] and cause["reasons"]
    assert json.loads(cause["arguments"])["to"] == "archive-desk@quietmirror.example"
    assert loop["next_call"]["refused"]
    assert contraction["contraction_id"] in loop["next_call"]["message"]
    assert not loop["upstream_saw_refused_call"]
    # The demo stopped the ledger it started: nothing is left running.
    assert not (tmp_path / "demo" / "stack.json").exists()


def test_bench_gives_events_per_second_and_its_share_of_the_machine_s_ceiling(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "bench"
    result = run("bench", "--events", "2000", "--data-dir", str(data_dir), "--json", timeout=300)
    payload = json.loads(result.stdout)
    assert payload["events"] == 2000 and payload["lag_end"] == 0
    # The run says how its hot path ran: compiled in this suite, unless turned off.
    assert payload["compiled_hot_path"] is not native.turned_off()
    # Where the worker's time went, per event it read (its counts are kept after each write).
    worker = payload["worker_us_per_event"]
    assert 0 < worker["events"] <= 2000
    assert worker["decode"] > 0 and worker["stitch"] > 0 and worker["ledger_write"] > 0
    # Each write is an insert a table with rows: raw_events, actions and sessions at least.
    assert worker["ledger_writes"] >= 1 and 3 * worker["ledger_writes"] <= worker["ledger_inserts"]
    ceiling = payload["ceiling"]
    # The bare consume read exactly the run's messages; the bare insert wrote its rows.
    assert ceiling["consumed"] == 2000
    # Both topics the worker reads: the sample's MCP traffic goes to the calls lane.
    assert ceiling["topics"] == ["ledger.events", "ledger.events.calls"]
    rows = ceiling["inserted_rows"]
    assert rows["raw_events"] == 2000 and rows["actions"] > 0 and rows["sessions"] > 0
    # Each table's insert timed on its own, together the whole insert.
    by_table = ceiling["insert_seconds_by_table"]
    assert set(by_table) == set(rows) and all(seconds > 0 for seconds in by_table.values())
    assert sum(by_table.values()) <= ceiling["insert_seconds"] + 0.001 * len(by_table)
    consume, insert = ceiling["consume_events_per_s"], ceiling["insert_events_per_s"]
    assert consume > 0 and insert > 0
    assert ceiling["events_per_s"] == pytest.approx(1 / (1 / consume + 1 / insert), rel=1e-3)
    assert ceiling["events_per_s"] <= ceiling["overlapped_events_per_s"] == min(consume, insert)
    assert ceiling["share"] == pytest.approx(
        payload["events_per_s"] / ceiling["events_per_s"], rel=1e-3
    )
    # The scratch database is gone, the run's own kept; the ledger it started, stopped.
    databases = {p.stem for p in (data_dir / "chdb" / "metadata").glob("*.sql")}
    assert "agentledger" in databases and not any("ceiling" in d for d in databases)
    assert not (data_dir / "stack.json").exists()
    skipped = run("bench", "--events", "200", "--data-dir", str(data_dir), "--no-ceiling", "--json")
    assert "ceiling" not in json.loads(skipped.stdout)


def test_keys_are_shown_once_and_kept_hashed(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "ledger")
    made = json.loads(
        run(
            "keys",
            "create",
            "--name",
            "grafana",
            "--role",
            "analyst",
            "--data-dir",
            data_dir,
            "--json",
        ).stdout
    )
    assert made["key"].startswith("alk_") and made["roles"] == ["analyst"]
    listed = run("keys", "list", "--data-dir", data_dir, "--json").stdout
    assert made["key"] not in listed and json.loads(listed)[0]["id"] == made["id"]
    stored = (tmp_path / "ledger" / "secrets" / "api_keys.json").read_text()
    assert made["key"].split("_", 2)[2] not in stored
    run("keys", "revoke", made["id"], "--data-dir", data_dir)
    assert json.loads(run("keys", "list", "--data-dir", data_dir, "--json").stdout) == []
    again = run("keys", "revoke", made["id"], "--data-dir", data_dir, check=False)
    assert again.returncode == 2 and f"no API key {made['id']}" in again.stderr
    wrong = run(
        "keys", "create", "--name", "x", "--role", "root", "--data-dir", data_dir, check=False
    )
    assert wrong.returncode == 2 and "'root' is not one of" in wrong.stderr


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("okat=okta-logs", "raw topic okat=okta-logs: unknown source 'okat'; known sources: "),
        ("okta", "'okta' is not SOURCE=TOPIC (example: okta=okta-logs)"),
        ("okta=ledger.raw.okta", "topics under 'ledger.' are the ledger's own"),
    ],
)
def test_up_refuses_a_bad_raw_topic_before_starting_anything(
    tmp_path: Path, value: str, problem: str
) -> None:
    result = run("up", "--data-dir", str(tmp_path), "--raw-topic", value, check=False)
    assert result.returncode == 2, result.stderr
    assert problem in " ".join(result.stderr.split())
    assert not (tmp_path / "stack.json").exists()


def test_up_refuses_a_bad_raw_topic_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLEDGER_RAW_TOPICS", "okta=okta-logs,okat=x")
    result = run("up", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 2
    assert "error: raw topic okat=x: unknown source 'okat'" in " ".join(result.stderr.split())
    assert not (tmp_path / "stack.json").exists()


async def _ship(bootstrap: str, topic: str, lines: list[str]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for line in lines:
            await producer.send_and_wait(topic, line.encode())
    finally:
        await producer.stop()


def test_up_with_a_raw_topic_runs_a_normalizer_that_status_shows(tmp_path: Path) -> None:
    import asyncio

    data_dir = tmp_path / "ledger"
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [*AGENTLEDGER, "up", "--data-dir", str(data_dir), "--raw-topic", "okta=okta-logs"],
        stdout=log,
        stderr=log,
    )
    try:
        status = _wait_up(data_dir, up)
        assert status["raw_topics"] == ["okta=okta-logs"]
        assert psutil.Process(status["normalizer"]).ppid() == up.pid
        nothing = {"messages": 0, "records": 0, "events": 0, "dead_lettered": 0}
        assert status["normalized"] == {"okta-logs": {"source": "okta", **nothing}}

        okta = write_files(generate_sessions(1, run_id="raw"), tmp_path / "in")["okta"]
        asyncio.run(_ship(status["bootstrap"], "okta-logs", [okta.read_text().split("\n")[0], "{"]))
        counts = wait_for(
            lambda: json.loads(run("status", "--data-dir", str(data_dir), "--json").stdout)[
                "normalized"
            ]["okta-logs"],
            until=lambda c: c["messages"] == 2,
            timeout=30,
            interval=0.3,
            what="the normalizer to count the two messages shipped",
        )
        assert counts == {
            "source": "okta",
            **nothing,
            "messages": 2,
            "records": 1,
            "events": 1,
            "dead_lettered": 1,
        }
        text = run("status", "--data-dir", str(data_dir)).stdout
        assert "okta=okta-logs" in text
        assert "okta-logs (okta): 1 normalized, 1 dead-lettered" in text
        children = psutil.Process(up.pid).children(recursive=True)

        run("down", "--data-dir", str(data_dir))
        up.wait(30)
        assert up.returncode == 0
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            up.wait(30)
        log.close()


def test_up_on_a_taken_port_says_so_and_starts_nothing(tmp_path: Path) -> None:
    # Another server holds the port: `up` names it and exits with an error of its own, where
    # uvicorn's exit once took the process down with the broker and the ledger running.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run("up", "--data-dir", str(tmp_path), "--http-port", str(port), check=False)
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in said
    assert not (tmp_path / "stack.json").exists()
    assert not (tmp_path / "logs" / "broker.log").exists()  # the broker was never started
