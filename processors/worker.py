"""The Faust worker: the batched event sink as a Faust-managed service, and a Faust agent
that keeps dead letters in the ledger (the broker is memory-only; the ledger is durable).

However many workers run, one of them, the stitch owner, reads the events and the session
declarations and stitches them (``processors.ownership``); the others stand by to take over.
The dead-letter agent runs on every worker.

Started by ``agentledger up`` (or ``agentledger worker``) with its settings in the
environment: ``AGENTLEDGER_KAFKA``, ``AGENTLEDGER_CLICKHOUSE_URL`` (the writer credential),
``AGENTLEDGER_DATABASE``, ``AGENTLEDGER_TOPIC_PREFIX``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
import mode
import orjson

from ingest.deadletter import dead_letter_row
from kernel import native
from kernel.config import Settings, load_settings
from kernel.errors import ConfigError, StoreError
from kernel.events import ch_ts as ts
from kernel.events import micros, now_utc
from kernel.kafka import security_options
from kernel.policy import Policy
from kernel.procs import tune_gc_for_throughput
from kernel.topics import Topics
from ledger.columns import without_pandas
from ledger.factory import open_store
from processors.evidence import EvidenceChain, digest_signer
from processors.ownership import Ownership
from processors.scoring import DriftStage
from processors.sink import EventSink, restore_drift, restore_state
from processors.sink_loop import run_sink, uncommitted_most
from processors.sink_parts import SinkStats
from processors.stitch import Stitcher
from processors.writes import retrying

log = logging.getLogger(__name__)


def faust_credentials(security: dict[str, Any]) -> Any:
    """Faust's form of the same SASL/TLS settings the aiokafka clients get (or ``None``)."""
    if not security:
        return None
    context = security.get("ssl_context")
    mechanism = security.get("sasl_mechanism")
    if mechanism is None:
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=security.get("sasl_plain_username"),
        password=security.get("sasl_plain_password"),
        ssl_context=context,
        mechanism=mechanism,
    )


def drift_stage(settings: Settings) -> DriftStage | None:
    """The scoring stage the settings ask for: the model and policy are read at start, so a
    bad policy file or model fails the worker then, with the reason."""
    hot = native.STATUS  # said here, where the worker's log is set up
    log.info("hot path: %s", "compiled" if hot.active else f"plain Python ({hot.reason})")
    if not settings.drift_scoring:
        return None
    from models import load_scorer

    scorer = load_scorer(settings.drift_model, data_dir=settings.data_dir)
    policy = Policy.load(settings.policy_file)
    log.info("drift scoring with model %s and policy %s", scorer.version, policy.name)
    return DriftStage(scorer, policy)


def write_scoring_stats(
    path: Path, drift: DriftStage | None, sink: SinkStats, *, caught_up: bool = False
) -> None:
    """The scoring stage's counts and where the sink's time went, for ``agentledger
    bench``: at most once a second while batches queue up, and each time the writes have
    caught up (so the file holds the last batch once the stream stops)."""
    now = time.monotonic()
    if now - sink.written_at < 1.0 and not caught_up:
        return
    sink.written_at = now
    stats: dict[str, Any] = {"worker": sink.timings()}
    if drift is not None:
        stats |= {**drift.stats.as_dict(), "model_version": drift.scorer.version}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(stats))


def build_app(
    settings: Settings, ready_file: Path | None = None, scoring_stats: Path | None = None
) -> faust.App:
    if not settings.kafka or not settings.clickhouse_url:
        raise ConfigError(
            "the worker needs AGENTLEDGER_KAFKA and AGENTLEDGER_CLICKHOUSE_URL "
            "(agentledger up sets both)"
        )
    topics = Topics(settings.topic_prefix)
    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    security = security_options(settings)
    app = faust.App(
        topics.worker_group + ".faust",
        broker=f"kafka://{settings.kafka}",
        store="memory://",
        web_enabled=False,
        datadir=str(settings.data_dir / "worker"),
        topic_partitions=settings.partitions,
        # Tansu waits out the whole rebalance timeout when a group forms: keep it short.
        broker_session_timeout=6,
        broker_rebalance_timeout=6,
        broker_heartbeat_interval=1,
        topic_allow_declare=False,
        broker_credentials=faust_credentials(security),
    )
    # Always the ledger's URL, never a chDB path: only the `up` process opens that.
    store = open_store(url=settings.clickhouse_url, database=settings.database)
    dlq = app.topic(topics.dlq, value_type=bytes, value_serializer="raw")
    never = asyncio.Event()  # the agent is cancelled at shutdown, its writes never given up

    @app.agent(dlq, name=f"{topics.prefix}.keep-dead-letters")
    async def keep_dead_letters(stream: Any) -> None:
        async for values in stream.take(1_000, within=0.5):
            rows = []
            for value in values:
                try:
                    rows.append(dead_letter_row(orjson.loads(value)))
                except orjson.JSONDecodeError:
                    rows.append(
                        dead_letter_row(
                            {
                                "source": topics.dlq,
                                "reason": "not JSON",
                                "record": bytes(value).hex(),
                            }
                        )
                    )
            # Written once the ledger takes them: an outage pauses this agent, it does not
            # lose the letters taken from the topic, nor store them twice.
            await retrying(keep_once(rows), "dead letters", never)

    def keep_once(rows: list[dict[str, Any]]) -> Callable[[], None]:
        """Insert ``rows``; once an attempt failed (perhaps only to answer: the ledger took
        the rows, then went away before replying), only those the ledger does not hold."""
        tried = False

        def insert() -> None:
            nonlocal tried
            fresh = rows
            if tried:
                held = store.existing_dead_letter_ids([r["dead_letter_id"] for r in rows])
                fresh = [r for r in rows if r["dead_letter_id"] not in held]
            tried = True
            store.insert_rows("dead_letters", fresh)

        return insert

    digests = app.topic(topics.digests, value_type=bytes, value_serializer="raw")
    # Made before the sink starts: a key that cannot be read stops the worker at once.
    signer = digest_signer(settings.evidence_dir or settings.data_dir)

    class EventSinkService(mode.Service):
        async def on_start(self) -> None:
            self._stop_event = asyncio.Event()
            # The model and policy are read now, so that a bad one fails the worker at start;
            # the state is restored once this worker owns the stream (``take_over``).
            evidence = EvidenceChain(store, topics.event_topics, signer)
            self.sink = EventSink(store, topics, Stitcher(), drift_stage(settings), evidence)

        async def take_over(self) -> None:
            """Restore the stitch state (and the drift trails) the ledger holds: every
            worker that takes the stream over goes on from where the ledger stands."""
            state = await asyncio.to_thread(
                restore_state,
                store,
                timedelta(seconds=settings.session_window_s),
                timedelta(seconds=settings.restitch_window_s),
            )
            # The restored watermark is the newest event time the ledger holds, read before
            # this worker wrote anything to it.
            held = micros(state.watermark) if state.watermark is not None else None
            drift = drift_stage(settings) if self.sink.drift is not None else None
            if drift is not None:
                # The session window back from the newest event the ledger holds, in event
                # time as the trails are kept: a stream of older records (a backfill) has its
                # trails restored too, not only one whose events are from the last half hour.
                newest = min(state.watermark or now_utc(), now_utc())
                since = ts(newest - timedelta(seconds=settings.session_window_s))
                fed = await asyncio.to_thread(restore_drift, store, state, drift, since)
                log.info("drift trails restored from %d calls and results", fed)
            self.sink.stitcher, self.sink.drift = Stitcher(state), drift
            # What a previous owner can have read past its last commit.
            self.sink.took_over(held, uncommitted_most(settings.batch_max))
            tune_gc_for_throughput()  # after the restore: that state is long-lived
            log.info("stitch state restored: %d keys", len(state.key_index))

        @mode.Service.task
        async def _consume(self) -> None:
            def mark_ready() -> None:
                if ready_file is not None:
                    ready_file.parent.mkdir(parents=True, exist_ok=True)
                    ready_file.write_text("ready\n")

            def keep_counts(caught_up: bool) -> None:
                if scoring_stats is not None:
                    write_scoring_stats(
                        scoring_stats, self.sink.drift, self.sink.stats, caught_up=caught_up
                    )

            await run_sink(
                self.sink,
                on_batch=keep_counts,
                bootstrap=str(settings.kafka),
                batch_max=settings.batch_max,
                batch_wait_ms=settings.batch_wait_ms,
                fetch_wait_ms=settings.fetch_wait_ms,
                slice_events=settings.stitch_slice,
                stop=self._stop_event,
                on_ready=mark_ready,
                security=security,
                ownership=Ownership(self.take_over, on_joined=mark_ready),
                idle_settle_s=settings.exchange_idle_s,
            )
            try:
                await self._seal()  # what was written before the stop is digested too
            except StoreError as exc:  # the next start digests them, from the ledger
                log.warning("no digest at stop (%s); the next start makes it", exc)

        @mode.Service.timer(settings.digest_interval_s)
        async def _seal_periodically(self) -> None:
            if not self._stop_event.is_set():
                await self._seal()

        async def _seal(self) -> None:
            """Sign a digest of each stream written since its last, keep it in the ledger,
            then publish it on the digests topic (keyed by stream: one stream's in order)."""
            sink = getattr(self, "sink", None)  # none before the state is restored
            evidence = sink.evidence if sink is not None else None
            if evidence is None:
                return
            for made in await retrying(evidence.seal, "digest write", self._stop_event):
                await digests.send(key=made["stream"].encode(), value=orjson.dumps(made))

        async def on_stop(self) -> None:
            self._stop_event.set()

    app.service(EventSinkService)
    return app


def read_model_ahead(settings: Settings) -> None:
    """Start reading the drift model (a child process loads the skops file: 1.6 s on the
    machine of BENCHMARKS.md, most of it importing scikit-learn, which took 4.4 s on a
    slower one) in a thread, while Faust starts and joins its group, which is mostly
    waiting on the broker. The sink's own load then finds it read; a read that fails fails
    there, as before, naming the model."""
    if not settings.drift_scoring:
        return

    def read() -> None:
        from models import load_scorer

        try:
            load_scorer(settings.drift_model, data_dir=settings.data_dir)
        except Exception:  # the sink's load raises it again, with its context
            log.debug("reading the drift model ahead failed", exc_info=True)

    threading.Thread(target=read, name="model-read", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    import os

    without_pandas()  # the worker builds Arrow columns and never uses pandas
    settings = load_settings()
    read_model_ahead(settings)
    ready = os.environ.get("AGENTLEDGER_READY_FILE")
    stats = os.environ.get("AGENTLEDGER_SCORING_STATS_FILE")
    app = build_app(settings, Path(ready) if ready else None, Path(stats) if stats else None)
    app.main()  # Faust's own CLI: `worker -l info`


if __name__ == "__main__":
    main()
