"""The bench ends when the workers have passed every event sent, not when the ledger holds
as many rows: two identical records are one event to the ledger (replays add nothing), and
the generated traffic now and then holds two (two sessions' ``initialize`` answers from one
server in the same millisecond). Counting rows, such a run waited ten minutes and failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# In a process of its own: the bench tunes the garbage collector for throughput.
SCRIPT = """
import asyncio, json, sys
from pathlib import Path
import agentledger.bench as bench
from kernel.config import Settings

spool, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
chunks = bench.spool_by_source(300, "repeats", spool)
source, path = chunks[0]
lines = path.read_bytes().split(b"\\n")
path.write_bytes(b"\\n".join([*lines, lines[0]]))  # the first record, once more
bench.WAIT_TIMEOUT_S = 90.0
settings = Settings(data_dir=data_dir, topic_prefix="repeats", database="repeats")
result = asyncio.run(
    bench._run_chunks(settings, 301, chunks, "bench-repeats", console=None, ceiling=False)
)
print(json.dumps(result))
"""


def test_a_run_with_a_repeated_record_ends_once_the_workers_pass_it(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(spool), str(tmp_path / "ledger")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Every record was sent and taken, the repeated one too; the worker skipped it as held
    # and committed past it, so nothing is left to read.
    assert result["records"] == 301 and result["rejected"] == 0
    assert result["lag_end"] == 0
    worker = result["worker_us_per_event"]
    assert worker["events"] == result["events"] and worker["duplicates_skipped"] == 1
