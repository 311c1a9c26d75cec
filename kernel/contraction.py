"""A scope contraction: the policy's decision about one session, caused by one drifting
action, as it travels on ``ledger.contractions`` (Avro, ``schemas/ledger.Contraction.v1.avsc``)
and as enforcement points (the MCP gateway, the Shared Signals transmitter) consume it.

One contraction per session and cause: ``contraction_id`` is derived from both, so a replayed
batch publishes the same id again and every consumer keeps the first it saw.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Final

import fastavro
import orjson

from kernel.codec import SCHEMA_DIR, SCHEMA_HEADER
from kernel.errors import RecordError

ALLOW: Final = "allow"
NARROW: Final = "narrow"  # remove tools or scopes; the session goes on with the rest
HALT: Final = "halt"  # hold every call for review
REVOKE: Final = "revoke"  # end the session
DECISIONS: Final = (ALLOW, NARROW, HALT, REVOKE)
CONTRACTING: Final = (NARROW, HALT, REVOKE)  # the decisions that publish a contraction
CONTRACTION_SCHEMA: Final = "ledger.Contraction.v1"


def contraction_id_for(session_id: str, cause_action_id: str) -> str:
    return hashlib.sha256(f"{session_id}\x00{cause_action_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Contraction:
    session_id: str
    agent: str
    cause_action_id: str
    decision: str
    score: float
    model_version: str
    event_time: datetime
    decided_at: datetime
    cause_tool: str = ""
    removed_tools: tuple[str, ...] = ()
    removed_scopes: tuple[str, ...] = ()
    remaining_tools: tuple[str, ...] = ()
    remaining_scopes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_rule: str = ""
    keys: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.decision not in CONTRACTING:
            raise ValueError(f"decision {self.decision!r} is not one of {CONTRACTING}")
        if self.event_time.tzinfo is None or self.decided_at.tzinfo is None:
            raise ValueError("contraction times must be timezone-aware (UTC)")

    @property
    def contraction_id(self) -> str:
        return contraction_id_for(self.session_id, self.cause_action_id)

    @property
    def ends_session(self) -> bool:
        """``halt`` and ``revoke`` refuse every call from now on; ``narrow`` only some."""
        return self.decision in (HALT, REVOKE)


@cache
def _schema() -> Any:
    path = SCHEMA_DIR / f"{CONTRACTION_SCHEMA}.avsc"
    return fastavro.parse_schema(orjson.loads(path.read_bytes()))


def to_record(c: Contraction) -> dict[str, Any]:
    return {
        "contraction_id": c.contraction_id,
        "session_id": c.session_id,
        "agent": c.agent,
        "cause_action_id": c.cause_action_id,
        "cause_tool": c.cause_tool,
        "decision": c.decision,
        "removed_tools": list(c.removed_tools),
        "removed_scopes": list(c.removed_scopes),
        "remaining_tools": list(c.remaining_tools),
        "remaining_scopes": list(c.remaining_scopes),
        "score": float(c.score),
        "model_version": c.model_version,
        "reasons": list(c.reasons),
        "policy_rule": c.policy_rule,
        "keys": [{"type": t, "value": v} for t, v in c.keys],
        "event_time": c.event_time,
        "decided_at": c.decided_at,
    }


def from_record(r: dict[str, Any]) -> Contraction:
    return Contraction(
        session_id=r["session_id"],
        agent=r["agent"],
        cause_action_id=r["cause_action_id"],
        cause_tool=r["cause_tool"],
        decision=r["decision"],
        removed_tools=tuple(r["removed_tools"]),
        removed_scopes=tuple(r["removed_scopes"]),
        remaining_tools=tuple(r["remaining_tools"]),
        remaining_scopes=tuple(r["remaining_scopes"]),
        score=r["score"],
        model_version=r["model_version"],
        reasons=tuple(r["reasons"]),
        policy_rule=r["policy_rule"],
        keys=tuple((k["type"], k["value"]) for k in r["keys"]),
        event_time=r["event_time"],
        decided_at=r["decided_at"],
    )


def encode(c: Contraction) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _schema(), to_record(c))
    return buf.getvalue()


def decode(data: bytes) -> Contraction:
    try:
        record = fastavro.schemaless_reader(io.BytesIO(data), _schema(), None)
        return from_record(record)  # type: ignore[arg-type]
    except Exception as exc:  # fastavro raises several unrelated types for corrupt input
        raise RecordError(f"cannot decode Avro contraction: {exc}") from exc


def headers() -> list[tuple[str, bytes]]:
    """The message headers a contraction is produced with (its writer schema)."""
    return [(SCHEMA_HEADER, CONTRACTION_SCHEMA.encode())]
