"""One ledger write against the real engine: refused rows set aside, an outage waited out
without losing or repeating what the ledger already took."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from kernel.errors import RefusedError, StoreError
from kernel.tokens import use_fingerprint_key
from ledger.chdb_store import ChdbStore
from ledger.store import LedgerStore
from processors.stitch import Stitcher
from processors.writes import LedgerWrite, write_until_taken
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.scenarios import all_scenarios, parse

REFUSED_TOOLS = ("crm.delete_customer", "orders.get_status")


@pytest.fixture
def store(chdb_ledger: ChdbStore) -> Iterator[LedgerStore]:
    store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


def test_refused_rows_are_set_aside_and_an_outage_resumes_where_it_stopped(
    store: LedgerStore,
) -> None:
    db = store.database
    use_fingerprint_key(TEST_FINGERPRINT_KEY)
    output = Stitcher().process([env for s in all_scenarios() for env in parse(s)])
    refused_tools = ", ".join(f"'{t}'" for t in REFUSED_TOOLS)
    store.command(
        f"ALTER TABLE {db}.actions ADD CONSTRAINT poison CHECK resource NOT IN ({refused_tools})"
    )
    # The ledger overloaded for raw_events: one part there already, merges stopped, and no
    # second part allowed (TOO_MANY_PARTS, an outage, not the rows' fault).
    store.insert_rows("raw_events", [dict(output.raw_events[0], event_id="another-part")])
    store.command(f"SYSTEM STOP MERGES {db}.raw_events")
    store.command(f"ALTER TABLE {db}.raw_events MODIFY SETTING parts_to_throw_insert = 1")

    write = LedgerWrite(output.tables())
    with pytest.raises(RefusedError):
        write.attempt(store, split=False)
    with pytest.raises(StoreError) as outage:
        write.attempt(store, split=True)
    assert not isinstance(outage.value, RefusedError)
    assert outage.value.name == "TOO_MANY_PARTS"
    assert [name for name, _ in output.tables()][write.taken] == "raw_events"
    assert sorted(r.row["resource"] for r in write.refused) == sorted(REFUSED_TOOLS)
    assert all("VIOLATED_CONSTRAINT" in r.reason for r in write.refused)

    # The ledger is back: the write goes on from raw_events, the tables before it not sent
    # again, nothing more refused.
    store.command(f"ALTER TABLE {db}.raw_events MODIFY SETTING parts_to_throw_insert = 3000")
    store.command(f"SYSTEM START MERGES {db}.raw_events")
    store.command(f"ALTER TABLE {db}.actions DROP CONSTRAINT poison")
    parts_before = store.query_rows(
        f"SELECT count() AS n FROM system.parts WHERE database = '{db}' AND table = 'actions' "
        "AND active"
    )
    refused = asyncio.run(write_until_taken(write, store, asyncio.Event()))
    assert len(refused) == len(REFUSED_TOOLS)
    parts_after = store.query_rows(
        f"SELECT count() AS n FROM system.parts WHERE database = '{db}' AND table = 'actions' "
        "AND active"
    )
    assert parts_after == parts_before  # no action inserted again
    raw = store.query_rows(f"SELECT event_id FROM {db}.raw_events")  # no FINAL: every copy
    assert sorted(r["event_id"] for r in raw) == sorted(
        ["another-part"] + [r["event_id"] for r in output.raw_events]
    )
    actions = store.query_rows(f"SELECT resource FROM {db}.actions FINAL")
    assert not {a["resource"] for a in actions} & set(REFUSED_TOOLS)
    assert len(actions) == len({r["action_id"] for r in output.actions}) - len(REFUSED_TOOLS)
