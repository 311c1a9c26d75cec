"""Dead-letter entries: what could not be parsed, where it was, and why. Nothing is dropped."""

from __future__ import annotations

import hashlib
from typing import Any

from ingest.base import parse_time
from kernel.errors import RecordError
from kernel.events import ch_ts as ts
from kernel.events import now_utc


def dead_letter(error: RecordError, record_text: str, ingest_batch: str = "") -> dict[str, Any]:
    """The JSON value produced to ``ledger.dlq`` (secrets already masked in ``record_text``)."""
    return {
        "source": error.source,
        "position": error.position,
        "reason": error.reason,
        "field": error.field or "",
        "record": record_text,
        "received_at": now_utc().isoformat(),
        "ingest_batch": ingest_batch,
    }


def reason_key(error: RecordError) -> str:
    """How rejections are grouped in reports: the field and the reason, not the position."""
    reason = (
        error.reason.split(":", 1)[0] if error.reason.startswith("invalid JSON") else error.reason
    )
    return f"{error.field}: {reason}" if error.field else reason


def dead_letter_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The ``dead_letters`` ledger row for a DLQ entry; the id makes replays idempotent."""
    identity = f"{entry.get('source')}\x00{entry.get('position')}\x00{entry.get('record')}"
    received = entry.get("received_at")
    return {
        "dead_letter_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "received_at": ts(parse_time(received, "received_at") if received else now_utc()),
        "source": str(entry.get("source", "")),
        "position": str(entry.get("position", "")),
        "reason": str(entry.get("reason", "")),
        "field": str(entry.get("field", "")),
        "record": str(entry.get("record", "")),
        "ingest_batch": str(entry.get("ingest_batch", "")),
        # A refused raw event's place in its hash chain (``processors.writes.refused_entry``).
        "chain_stream": str(entry.get("chain_stream", "")),
        "chain_seq": int(entry.get("chain_seq") or 0),
        "chain_prev": str(entry.get("chain_prev", "")),
        "chain_hash": str(entry.get("chain_hash", "")),
        "chained_record": str(entry.get("chained_record", "")),
    }
