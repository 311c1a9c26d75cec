"""The ceiling's bare insert: a run's rows inserted again in a worker's write sizes."""

from __future__ import annotations

import uuid

from agentledger.bench_ceiling import bare_insert
from ledger.chdb_store import ChdbStore
from processors.stitch import Stitcher
from tests import scenarios
from tests.scenarios import parse


def test_the_bare_insert_writes_every_row_of_the_run_in_the_writes_asked(
    chdb_ledger: ChdbStore,
) -> None:
    run = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    scratch = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    run.ensure_schema()
    stitcher = Stitcher()
    for scenario in (scenarios.delegated(), scenarios.direct(), scenarios.autonomous()):
        for table, stitched in stitcher.process(parse(scenario)).tables():
            run.insert_rows(table, stitched)
    (batch,) = {
        row["ingest_batch"]
        for row in run.query_rows(f"SELECT DISTINCT ingest_batch FROM {run.database}.raw_events")
    }
    inserted, seconds, by_table = bare_insert(run, scratch, batch, writes=3)

    assert inserted["raw_events"] == run.count("raw_events") >= 3
    assert inserted["actions"] == run.count("actions") >= 3
    for table, count in inserted.items():
        # Every row once: the scratch tables hold what the run's hold, id for id.
        assert scratch.count(table) == count, table
    ids = "SELECT arraySort(groupArray(event_id)) AS ids FROM {}.raw_events"
    assert scratch.query_rows(ids.format(scratch.database)) == run.query_rows(
        ids.format(run.database)
    )
    assert set(by_table) == set(inserted) and 0 < sum(by_table.values()) <= seconds
