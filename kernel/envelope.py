"""Events as the Avro records of ``ledger.events``: the schemas (one file a version in
``schemas/``), the envelope an event travels in, and fastavro's schemaless encoding (one
record a message)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import fastavro
import orjson

from kernel.events import Event
from kernel.native import source_root

# Beside the packages (not beside this file: its compiled build lives elsewhere).
SCHEMA_DIR = source_root() / "schemas"
CURRENT_VERSION = 2
SCHEMA_HEADER = "ledger-schema"


def schema_name(version: int) -> str:
    return f"ledger.Event.v{version}"


@cache
def load_schema(version: int = CURRENT_VERSION) -> Any:
    path = SCHEMA_DIR / f"{schema_name(version)}.avsc"
    return fastavro.parse_schema(orjson.loads(path.read_bytes()))


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event with what the ingest added around it."""

    event: Event
    ingested_at: datetime
    ingest_batch: str = ""
    raw_ref: tuple[str, int, int] | None = None


def to_record(env: Envelope) -> dict[str, Any]:
    e = env.event
    return {
        "event_id": e.event_id,
        "source": e.source,
        "kind": e.kind,
        "event_time": e.event_time,
        "ingested_at": env.ingested_at,
        "operation": e.operation,
        "position": e.position,
        "raw_ref": (
            None
            if env.raw_ref is None
            else {"topic": env.raw_ref[0], "partition": env.raw_ref[1], "offset": env.raw_ref[2]}
        ),
        "ingest_batch": env.ingest_batch,
        "raw": e.raw,
        "source_id": e.source_id,
        "principal": e.principal,
        "principal_type": e.principal_type,
        "client_id": e.client_id,
        "agent_name": e.agent_name,
        "agent_version": e.agent_version,
        "agent_instance": e.agent_instance,
        "service": e.service,
        "resource": e.resource,
        "outcome": e.outcome,
        "outcome_detail": e.outcome_detail,
        "intent": e.intent,
        "scopes": e.scopes,
        "keys": [{"type": t, "value": v} for t, v in e.keys],
        "attributes": e.attributes,
    }


def from_record(r: dict[str, Any]) -> Envelope:
    ref = r.get("raw_ref")
    event = Event(
        event_id=r["event_id"],
        source=r["source"],
        kind=r["kind"],
        event_time=r["event_time"],
        operation=r["operation"],
        position=r["position"],
        raw=r["raw"],
        principal=r["principal"],
        principal_type=r["principal_type"],
        client_id=r["client_id"],
        agent_name=r["agent_name"],
        agent_version=r["agent_version"],
        agent_instance=r["agent_instance"],
        service=r["service"],
        resource=r["resource"],
        outcome=r["outcome"],
        outcome_detail=r["outcome_detail"],
        intent=r["intent"],
        scopes=r["scopes"],
        keys=[(k["type"], k["value"]) for k in r["keys"]],
        attributes=r["attributes"],
        source_id=r["source_id"],
    )
    return Envelope(
        event=event,
        ingested_at=r["ingested_at"],
        ingest_batch=r["ingest_batch"],
        raw_ref=None if ref is None else (ref["topic"], ref["partition"], ref["offset"]),
    )


def encode(env: Envelope) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, load_schema(), to_record(env))
    return buf.getvalue()
