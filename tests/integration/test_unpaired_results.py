"""A JSON-RPC result stored before its request is listed as unpaired, held again when the
stitcher restarts from the ledger, and pairs with its request when that comes (real chDB)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.mcp import McpSource
from kernel import events as ev
from kernel.codec import Envelope
from kernel.events import canonical_json
from ledger.chdb_store import ChdbStore
from ledger.queries import unpaired_result_count, unpaired_results
from ledger.rows import StitchOutput
from processors.sink import restore_state
from processors.stitch import Stitcher

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


def _line(seconds: float, direction: str, message: dict[str, Any], **extra: Any) -> Envelope:
    """One capture line of a stdio server: no Mcp-Session-Id on its results."""
    record = {
        "ts": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "direction": direction,
        "server": "files",
        "headers": extra.pop("headers", {}),
        "message": message,
    }
    [event] = McpSource().parse(record, position=f"capture:{seconds}", raw=canonical_json(record))
    return Envelope(event, T0, "unpaired-test", ("ledger.raw.mcp", 0, int(seconds)))


def _call(seconds: float, rpc_id: int, session: str) -> Envelope:
    message = {
        "jsonrpc": "2.0",
        "id": rpc_id,
        "method": "tools/call",
        "params": {"name": "read_file", "arguments": {"path": f"/tmp/{rpc_id}"}},
    }
    return _line(seconds, "client_to_server", message, headers={"Mcp-Session-Id": session})


def _result(seconds: float, rpc_id: int) -> Envelope:
    message = {"jsonrpc": "2.0", "id": rpc_id, "result": {"content": []}}
    return _line(seconds, "server_to_client", message)


def _write(store: ChdbStore, output: StitchOutput) -> None:
    for table, rows in output.tables():
        store.insert_rows(table, rows)


def test_an_unpaired_result_survives_a_restart_and_pairs_with_its_late_request(
    chdb_ledger: ChdbStore,
) -> None:
    store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    first = Stitcher()
    _write(store, first.process([_call(0, 1, "ms-a"), _result(1, 1)]))
    early = _result(9, 2)  # the answer to a request the next batch brings
    out = first.process([early])
    assert out.sessions == []  # a result alone opens no session
    _write(store, out)

    [listed] = unpaired_results(store)
    assert listed["event_id"] == early.event.event_id
    assert listed["position"] == "capture:9"
    assert unpaired_result_count(store) == 1

    # A new worker goes on from the ledger: the early result is held again and pairs.
    restarted = Stitcher(restore_state(store, WINDOW))
    late_call = _call(10, 2, "ms-a")
    out = restarted.process([late_call])
    _write(store, out)
    [row] = [r for r in out.actions if r["action_id"] == late_call.event.event_id]
    assert (row["outcome"], row["outcome_event_id"]) == (ev.SUCCESS, early.event.event_id)
    assert unpaired_result_count(store) == 0
    assert unpaired_results(store) == []
