"""``agentledger model train``'s path on the real chDB ledger: actions in the ledger, the
baselines learnt from them through the ledger's query, a deployment model written and
loaded in the default's place."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.chdb_store import ChdbStore
from ledger.queries import agent_history
from models import load_scorer
from models.baseline import fit_baselines
from models.store import write_deployment_model
from models.trail import Call, DeclaredIntent

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def _action(session: int, i: int, operation: str, access: str) -> dict[str, object]:
    at = T0 + timedelta(minutes=session, seconds=i)
    return {
        "action_id": f"a-{session}-{i}",
        "session_id": f"s-{session}",
        "event_time": at.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "source": "mcp",
        "kind": "tool_call",
        "operation": operation,
        "agent_name": "billing-bot",
        "access": access,
        "arguments": "{}",
        "version": 1,
    }


def test_baselines_from_the_ledger_reach_the_scorer(chdb_ledger: ChdbStore, tmp_path: Path) -> None:
    store = chdb_ledger.with_database(f"drift_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    rows = [
        _action(s, i, "list_invoices" if i % 2 else "get_invoice", "read")
        for s in range(8)
        for i in range(4)
    ]
    store.insert_rows("actions", rows)
    history = agent_history(store)
    assert len(history) == 32
    baselines = fit_baselines(history)
    assert baselines["billing-bot"].tools == {"list_invoices", "get_invoice"}
    assert baselines["billing-bot"].session_calls_p99 == 4.0

    write_deployment_model(tmp_path, baselines)
    scorer = load_scorer(data_dir=tmp_path)
    trail = scorer.new_trail()
    trail.set_intent(DeclaredIntent("Show me invoice 1142.", declared=False))
    trail.set_agent("billing-bot")
    score = scorer.score(trail, Call("x1", "refund_invoice", T0, {"invoice_id": "1142"}))
    assert score.model_version == scorer.version
    assert any("never used refund_invoice" in r or "never had write" in r for r in score.reasons)
