"""The normalizer process: ``agentledger up --raw-topic SOURCE=TOPIC`` starts one
(``python -m agentledger.normalizing``) to read the raw topics shippers write to.

It runs as a process of its own, supervised by the stack as the workers are, rather than as
a task inside ``up``: parsing and redacting every record is CPU work, and inside ``up`` it
would share one interpreter with the ledger's SQL interface, which every worker writes
through. A normalizer that dies is started again and resumes from its committed offsets.

Settings come from the environment the stack gives it (``AGENTLEDGER_KAFKA``,
``AGENTLEDGER_RAW_TOPICS``, ``AGENTLEDGER_TOPIC_PREFIX``, ``AGENTLEDGER_DATA_DIR``: the
stack's, for the deployment's fingerprint key). It tells the stack it has joined its
consumer group with ``DATA_DIR/run/normalizer.ready`` and keeps its counts in
``DATA_DIR/run/normalizer.json`` for ``agentledger status``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from ingest.normalizer import NormalizerStats, raw_sources, run_normalizer
from kernel import keyfiles
from kernel.config import Settings, load_settings
from kernel.errors import ConfigError, LedgerError
from kernel.procs import tune_gc_for_throughput
from kernel.tokens import use_fingerprint_key
from kernel.topics import Topics

log = logging.getLogger("agentledger.normalizer")


def ready_file(data_dir: Path) -> Path:
    return data_dir / "run" / "normalizer.ready"


def stats_file(data_dir: Path) -> Path:
    return data_dir / "run" / "normalizer.json"


def read_stats(data_dir: Path) -> dict[str, Any] | None:
    """The counts the normalizer of ``data_dir`` last wrote, or ``None``."""
    try:
        stats: dict[str, Any] = orjson.loads(stats_file(data_dir).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return stats


def _mark(path: Path) -> None:
    path.write_text("ready\n")


def _write_stats(path: Path, stats: NormalizerStats) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(stats.as_json()))
    tmp.replace(path)  # a reader never sees half a file


async def serve(settings: Settings) -> None:
    """Normalize until SIGTERM or SIGINT; the batch under way is finished and committed."""
    if not settings.kafka:
        raise ConfigError("the normalizer needs AGENTLEDGER_KAFKA (agentledger up sets it)")
    if not settings.raw_topics:
        raise ConfigError("no raw topics: set AGENTLEDGER_RAW_TOPICS=SOURCE=TOPIC[,…]")
    sources = raw_sources(settings.raw_topics)
    run = settings.data_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    ready = ready_file(settings.data_dir)
    ready.unlink(missing_ok=True)
    stats = NormalizerStats.start(sources, read_stats(settings.data_dir))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("normalizing %s", ", ".join(str(raw) for raw in settings.raw_topics))
    await run_normalizer(
        sources,
        bootstrap=settings.kafka,
        topics=Topics(settings.topic_prefix),
        stop=stop,
        stats=stats,
        batch_max=settings.batch_max,
        batch_wait_ms=settings.batch_wait_ms,
        settings=settings,
        on_ready=lambda: _mark(ready),
        on_batch=lambda s: _write_stats(stats_file(settings.data_dir), s),
    )
    log.info("stopped after %d batches", stats.batches)


def main() -> None:
    logging.Formatter.converter = time.gmtime  # log times in UTC, as every time here
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
    )
    try:
        settings = load_settings()
        use_fingerprint_key(keyfiles.fingerprint_key(settings))
        tune_gc_for_throughput()
        asyncio.run(serve(settings))
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
