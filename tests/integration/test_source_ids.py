"""From the ledger back to the source: records ingested through the real broker and worker
into chDB are found by the id their source gave them (`actions list --source-id`), and
`explain --raw` prints the records the ledger keeps, as an analyst runs the commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

from ledger.chdb_store import ChdbStore
from ledger.queries import list_actions
from ledger.schema import TABLES
from tests.integration.conftest import ANALYST_PASSWORD, ANALYST_USER, RunningStack
from tests.integration.helpers import ingest, wait_processed, wait_stored
from tests.jwt import unsigned_jwt

EVENT_ID = "6d1c4b0e-2f3a-4c5d-9e8f-0a1b2c3d4e5f"
TOKEN = unsigned_jwt({"sub": "alice@acme.example", "jti": "AT.srcid-1", "scope": "crm.read"})


def _cloudtrail(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/crm-agent/agent-7",
            "accessKeyId": "ASIAEXAMPLESRCID0001",
            "accountId": "111122223333",
        },
        "eventTime": "2026-03-04T05:06:08Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "requestParameters": {"bucketName": "crm-exports"},
        "requestID": "REQSRCID0001",
        "eventID": EVENT_ID,
        "readOnly": True,
    }
    record.update(overrides)
    return record


def _capture(ts: str, direction: str, message: dict[str, Any]) -> dict[str, Any]:
    headers: dict[str, Any] = {"Mcp-Session-Id": "sess-srcid"}
    if direction == "client_to_server":
        headers["Authorization"] = f"Bearer {TOKEN}"
    return {
        "ts": ts,
        "direction": direction,
        "server": "crm-mcp",
        "headers": headers,
        "message": message,
    }


def _write_inputs(directory: Path) -> dict[str, Path]:
    directory.mkdir()
    trail = {
        "Records": [
            _cloudtrail(),
            # No eventID: found by no source id, and given none.
            _cloudtrail(eventTime="2026-03-04T05:06:09Z", eventID=None, requestID="REQ2"),
        ]
    }
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "crm.lookup", "arguments": {"account": "ACME"}},
    }
    answer = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "ok"}]}}
    lines = [
        _capture("2026-03-04T05:06:07.100000Z", "client_to_server", call),
        _capture("2026-03-04T05:06:07.900000Z", "server_to_client", answer),
    ]
    paths = {"cloudtrail": directory / "trail.json", "mcp": directory / "capture.jsonl"}
    paths["cloudtrail"].write_bytes(orjson.dumps(trail))
    paths["mcp"].write_text("".join(orjson.dumps(line).decode() + "\n" for line in lines))
    return paths


def _cli(stack: RunningStack, ledger_http: str, *args: str) -> str:
    """One ``agentledger`` command reading this test's ledger through its ClickHouse HTTP
    interface as the analyst (the credential in the environment, not on the command line)."""
    env = dict(os.environ)
    env["AGENTLEDGER_CLICKHOUSE_URL"] = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"
    env["AGENTLEDGER_DATABASE"] = stack.store.database
    env["COLUMNS"] = "240"  # a wide terminal: the text views fold nothing
    done = subprocess.run(
        [sys.executable, "-m", "agentledger", *args, "--data-dir", str(stack.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}: {done.stderr}{done.stdout}"
    return done.stdout


def _listed(stack: RunningStack, ledger_http: str, source_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        _cli(stack, ledger_http, "actions", "list", "--source-id", source_id, "--json")
    )
    return found


def test_an_action_is_found_by_its_source_id_and_explained_with_its_records(
    stack: RunningStack, ledger_http: str, tmp_path: Path
) -> None:
    inputs = _write_inputs(tmp_path / "in")
    sent = sum(ingest(stack, source, path, batch="srcid").events for source, path in inputs.items())
    wait_stored(stack.store, "srcid", sent)
    wait_processed(stack)

    [api_call] = _listed(stack, ledger_http, EVENT_ID)
    assert (api_call["source"], api_call["operation"]) == ("cloudtrail", "GetObject")
    assert api_call["source_id"] == EVENT_ID
    assert (api_call["outcome"]["event_id"], api_call["outcome"]["source_id"]) == ("", "")
    # Exact and parameterized: no prefix, no SQL.
    assert _listed(stack, ledger_http, EVENT_ID[:8]) == []
    assert _listed(stack, ledger_http, "x' OR 1 = 1 OR source_id = '") == []
    unnamed = [a for a in list_actions(stack.store) if a["source"] == "cloudtrail"]
    assert sorted(a["source_id"] for a in unnamed) == ["", EVENT_ID]

    [call] = _listed(stack, ledger_http, "crm-mcp#7")
    assert (call["kind"], call["resource"]) == ("tool_call", "crm.lookup")
    assert call["outcome"]["status"] == "success"
    # The outcome came from the result's own record, which names the same server and id.
    assert call["outcome"]["event_id"] not in ("", call["action_id"])
    assert call["outcome"]["source_id"] == "crm-mcp#7"
    table = _cli(stack, ledger_http, "actions", "list", "--source-id", "crm-mcp#7")
    assert "source id" in table and "crm-mcp#7" in table

    shown = json.loads(
        _cli(stack, ledger_http, "sessions", "show", call["session"]["session_id"], "--json")
    )
    assert [a["source_id"] for a in shown["actions"]] == ["crm-mcp#7"]
    tree = _cli(stack, ledger_http, "sessions", "show", call["session"]["session_id"])
    assert "[crm-mcp#7]" in tree and "reported by crm-mcp#7" in tree

    explained = json.loads(
        _cli(stack, ledger_http, "explain", call["action_id"], "--raw", "--json")
    )
    records = explained["source_records"]
    assert set(records) == {"action", "outcome"}
    assert records["action"]["record"]["message"]["method"] == "tools/call"
    capture = inputs["mcp"]
    assert records["action"]["position"] == f"{capture}:1"
    assert records["action"]["raw_ref"].startswith(f"{stack.settings.topic_prefix}")
    assert records["outcome"]["event_id"] == call["outcome"]["event_id"]
    assert records["outcome"]["record"]["message"]["result"]["content"][0]["text"] == "ok"
    assert {r["source_id"] for r in records.values()} == {"crm-mcp#7"}
    # The record as the ledger keeps it: the bearer token replaced by its fingerprint.
    authorization = records["action"]["record"]["headers"]["Authorization"]
    assert authorization["redacted"] is True and authorization["claims"]["jti"] == "AT.srcid-1"

    text = _cli(stack, ledger_http, "explain", call["action_id"][:12], "--raw")
    assert "source id: crm-mcp#7" in text
    assert f"source record  mcp · source id crm-mcp#7 · {capture}:1" in text
    assert f"outcome record  mcp · source id crm-mcp#7 · {capture}:2" in text
    assert '"method": "tools/call"' in text and '"text": "ok"' in text
    assert TOKEN not in text and TOKEN.split(".")[1] not in text

    # An action whose outcome is its own record: one source record.
    own = json.loads(_cli(stack, ledger_http, "explain", api_call["action_id"], "--raw", "--json"))
    assert list(own["source_records"]) == ["action"]
    assert own["source_records"]["action"]["record"]["eventID"] == EVENT_ID
    assert "source_records" not in json.loads(
        _cli(stack, ledger_http, "explain", api_call["action_id"], "--json")
    )


def _released_before_source_ids(table: str) -> str:
    """``table``'s CREATE TABLE as released before source ids: no such column, no index."""
    kept = [line for line in TABLES[table].splitlines() if "source_id" not in line]
    created = re.sub(r",\s*\)\s*ENGINE", ") ENGINE", " ".join(" ".join(kept).split()))
    assert "source_id" not in created and ", )" not in created
    return created


def test_a_ledger_from_before_source_ids_gains_them_in_place(chdb_ledger: ChdbStore) -> None:
    store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    store.command(f"CREATE DATABASE IF NOT EXISTS {store.database}")
    for table in ("actions", "raw_events"):
        store.command(_released_before_source_ids(table).format(db=store.database))
    store.command(
        f"INSERT INTO {store.database}.actions (action_id, session_id, event_time, source, "
        "kind, operation, version) VALUES ('old-1', 's-1', now64(6), 'okta', 'identity', "
        "'user.session.start', 1)"
    )
    store.ensure_schema()
    columns = store.query_rows(
        "SELECT table, name FROM system.columns WHERE database = {db:String} "
        "AND name = 'source_id' ORDER BY table",
        {"db": store.database},
    )
    assert [c["table"] for c in columns] == ["actions", "raw_events"]
    [old_action] = list_actions(store)
    assert (old_action["action_id"], old_action["source_id"]) == ("old-1", "")
    assert list_actions(store, source_id="") == [old_action]
