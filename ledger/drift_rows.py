"""Row builders of the drift stage (``processors.scoring``): each scored action's drift and
each contraction the policy published, declared once here as ``ledger.rows`` does for the
stitcher's tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from kernel.contraction import Contraction, to_record
from kernel.events import ch_ts as ts
from kernel.scores import four_places
from ledger.rows import Row


@dataclass(slots=True)
class DriftOutput:
    """Rows the scoring stage writes for one batch (``processors.scoring``)."""

    drift: list[Row] = field(default_factory=list)
    contractions: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[Row]]]:
        return [("contractions", self.contractions), ("drift", self.drift)]


def drift_row(
    score: DriftLike,
    *,
    action_id: str,
    session_id: str,
    event_time: datetime | str,
    agent: str,
    tool: str,
    decision: str,
    policy_rule: str,
    contraction_id: str,
    scored_at: datetime | str,
    version: int,
) -> Row:
    """One scored action: its drift, the reasons that drove it and the policy's decision.
    A time may come as its ClickHouse text already (the action row's event time, the
    batch's scoring time): a stream scores tens of thousands of actions a second."""
    return {
        "action_id": action_id,
        "session_id": session_id,
        "event_time": event_time if isinstance(event_time, str) else ts(event_time),
        "agent": agent,
        "tool": tool,
        "score": four_places(float(score.score)),
        "flagged": score.flagged,
        "out_of_bounds": score.out_of_bounds,
        "reasons": list(score.reasons),
        "model_version": score.model_version,
        "decision": decision,
        "policy_rule": policy_rule,
        "contraction_id": contraction_id,
        "scored_at": scored_at if isinstance(scored_at, str) else ts(scored_at),
        "version": version,
    }


class DriftLike(Protocol):
    """A drift score (``models.trail.DriftScore``)."""

    @property
    def score(self) -> float: ...
    @property
    def flagged(self) -> bool: ...
    @property
    def out_of_bounds(self) -> bool: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def model_version(self) -> str: ...


def contraction_row(c: Contraction) -> Row:
    """A contraction as published (``kernel.contraction.to_record``, its fields in that
    order), in the ledger's types: the score to four places, each key as ``type:value`` and
    the times as ``DateTime64`` text. Its id is derived from its session and cause, so a
    replay writes the same row again."""
    return to_record(c) | {
        "score": round(float(c.score), 4),
        "keys": [f"{t}:{v}" for t, v in c.keys],
        "event_time": ts(c.event_time),
        "decided_at": ts(c.decided_at),
    }
