"""The environments the stack's child processes start with: their settings, as
``AGENTLEDGER_*`` variables (the writer's URL goes here only, never to a file or a log)."""

from __future__ import annotations

import os
from pathlib import Path

from kernel.config import Settings
from models.store import deployment_model


def worker_env(
    settings: Settings,
    *,
    bootstrap: str,
    writer_url: str,
    worker_dir: Path,
    ready: Path,
    scoring_stats: Path,
) -> dict[str, str]:
    """A Faust worker's environment: this process's, plus the stack's settings."""
    data_dir = settings.data_dir
    env = dict(os.environ)
    env.update(
        AGENTLEDGER_KAFKA=bootstrap,
        AGENTLEDGER_CLICKHOUSE_URL=writer_url,
        AGENTLEDGER_DATABASE=settings.database,
        AGENTLEDGER_TOPIC_PREFIX=settings.topic_prefix,
        AGENTLEDGER_DATA_DIR=str(worker_dir),
        AGENTLEDGER_PARTITIONS=str(settings.partitions),
        AGENTLEDGER_BATCH_MAX=str(settings.batch_max),
        AGENTLEDGER_BATCH_WAIT_MS=str(settings.batch_wait_ms),
        AGENTLEDGER_FETCH_WAIT_MS=str(settings.fetch_wait_ms),
        AGENTLEDGER_SESSION_WINDOW_S=str(settings.session_window_s),
        AGENTLEDGER_RESTITCH_WINDOW_S=str(settings.restitch_window_s),
        AGENTLEDGER_EXCHANGE_IDLE_S=str(settings.exchange_idle_s),
        AGENTLEDGER_DIGEST_INTERVAL_S=str(settings.digest_interval_s),
        AGENTLEDGER_EVIDENCE_DIR=str((settings.evidence_dir or data_dir).resolve()),
        AGENTLEDGER_READY_FILE=str(ready),
        AGENTLEDGER_SCORING_STATS_FILE=str(scoring_stats),
        AGENTLEDGER_DRIFT_SCORING=str(settings.drift_scoring).lower(),
    )
    # The workers have data directories of their own: the model this deployment
    # trained (`agentledger model train`, under this one) is named to them.
    model = settings.drift_model or deployment_model(data_dir)
    for name, path in (
        ("AGENTLEDGER_DRIFT_MODEL", model),
        ("AGENTLEDGER_POLICY_FILE", settings.policy_file),
    ):
        env.pop(name, None)
        if path is not None:
            env[name] = str(path.resolve())
    return env


def normalizer_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    """The normalizer's environment: the raw topics it reads and where it produces."""
    env = dict(os.environ)
    env.update(
        AGENTLEDGER_KAFKA=bootstrap,
        AGENTLEDGER_TOPIC_PREFIX=settings.topic_prefix,
        AGENTLEDGER_DATA_DIR=str(settings.data_dir),
        AGENTLEDGER_RAW_TOPICS=",".join(str(raw) for raw in settings.raw_topics),
        AGENTLEDGER_BATCH_MAX=str(settings.batch_max),
        AGENTLEDGER_BATCH_WAIT_MS=str(settings.batch_wait_ms),
        AGENTLEDGER_FETCH_WAIT_MS=str(settings.fetch_wait_ms),
        AGENTLEDGER_KAFKA_COMPRESSION=settings.kafka_compression,
    )
    if settings.fingerprint_key is not None:
        env["AGENTLEDGER_FINGERPRINT_KEY"] = settings.fingerprint_key.get_secret_value()
    return env
