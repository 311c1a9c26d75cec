"""The drift stage alone: ``agentledger bench --stage``.

The events bench's generated records (its generator, a fixed run id and fingerprint key,
so the same records every time) are parsed as ingest parses them and stitched in batches of
``BATCH`` in the order they arrive. Then the drift stage scores the stitched batches in this
process, ``passes`` times over. Before each pass the readings shared across sessions
(intents, results, relevance) are forgotten, and the garbage collector is off, as in the
worker. The least CPU time of a pass, per scored action, is the stage's cost without the
stack's other work: end-to-end runs vary more than most changes to the stage do.

The digest covers every drift row and contraction the stage made, without the times they
were made at. A change that gives the same digest scored every action the same.
"""

from __future__ import annotations

import gc
import hashlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from agentledger.bench_codecs import parsed_records
from kernel import native
from kernel.codec import Envelope
from kernel.config import Settings
from kernel.events import now_utc
from kernel.tokens import use_fingerprint_key
from ledger.drift_rows import contraction_row
from ledger.rows import StitchOutput
from processors.stitch import Stitcher

BATCH = 2_000  # events a stitched batch holds, about what the worker stitches at a time
RUN_ID = "stage"
# Not a secret: it fingerprints the generated tokens of this bench only, and nothing it makes
# is kept. Fixed, so that the same records give the same event ids, and so the same digest.
_KEY = hashlib.sha256(b"agentledger bench --stage").digest()
_MADE_AT = ("scored_at", "decided_at")  # when a row was made: left out of the digest


def _envelopes(events: int, directory: Path) -> Iterator[Envelope]:
    from agentledger.bench import spool_by_source

    received = now_utc()
    for _, item in parsed_records(spool_by_source(events, RUN_ID, directory)):
        yield from (Envelope(event, received, "bench-stage") for event in item.events)


def stitched_batches(events: int) -> tuple[Stitcher, list[tuple[list[Envelope], StitchOutput]]]:
    """The generated records' events, stitched ``BATCH`` at a time in arrival order."""
    use_fingerprint_key(_KEY)
    stitcher = Stitcher()
    batches: list[tuple[list[Envelope], StitchOutput]] = []
    with tempfile.TemporaryDirectory(prefix="agentledger-stage-") as directory:
        pending: list[Envelope] = []
        for envelope in _envelopes(events, Path(directory)):
            pending.append(envelope)
            if len(pending) == BATCH:
                batches.append((pending, stitcher.process(pending)))
                pending = []
        if pending:
            batches.append((pending, stitcher.process(pending)))
    return stitcher, batches


def _forget_readings() -> None:
    from models import reach, session

    session.forget_readings()
    reach.scope_grants.cache_clear()


def run_stage_bench(
    events: int, passes: int = 3, settings: Settings | None = None
) -> dict[str, Any]:
    """Stitch ``events`` generated records' events, then time the drift stage over them
    (the model and policy ``settings`` name)."""
    from processors.worker import drift_stage

    stitcher, batches = stitched_batches(events)
    settings = settings or Settings()
    cpu: list[float] = []
    digest = ""
    stats: dict[str, Any] = {}
    for _ in range(passes):
        _forget_readings()
        stage = drift_stage(settings)
        if stage is None:
            raise RuntimeError("drift scoring is turned off (AGENTLEDGER_DRIFT_SCORING)")
        rows: list[bytes] = []
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            began = time.process_time()
            for _, out in batches:
                scored, published = stage.score(stitcher.state, out, 1)
                rows += (_canonical(row) for row in scored.drift)
                rows += (_canonical(contraction_row(c)) for c in published)
            spent = time.process_time() - began
        finally:
            if was_enabled:
                gc.enable()
        stats = stage.stats.as_dict()
        cpu.append(spent * 1e6 / max(stats["scored"], 1))
        digest = hashlib.sha256(b"\n".join(sorted(rows))).hexdigest()[:16]
    return {
        "events": events,
        "batches": len(batches),
        "actions_scored": stats.get("scored", 0),
        "actions_flagged": stats.get("flagged", 0),
        "contractions": stats.get("contractions", 0),
        "stage_cpu_us_per_action": {
            "least": round(min(cpu), 2) if cpu else None,
            "passes": [round(value, 2) for value in cpu],
        },
        "digest": digest,
        "compiled_hot_path": native.STATUS.active,
    }


def _canonical(row: dict[str, Any]) -> bytes:
    kept = {name: value for name, value in row.items() if name not in _MADE_AT}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
