"""Row builders: the shape of each ledger table the stitcher writes, declared once here.

Adding a column touches ``ledger.schema`` and the one builder of its table (a unit test holds
each builder to its table's columns). Builders take plain values and kernel types, so the
ledger stays below the processors that fill it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol, Self

import orjson

from kernel.codec import Envelope
from kernel.declaration import SessionDeclaration
from kernel.events import Event
from kernel.events import ch_ts as ts
from kernel.vocabulary import (
    ATTR_ARGUMENTS,
    ATTR_CLAIMS,
    ATTR_EXPIRES_AT,
    ATTR_ISSUED_ACCESS_KEY,
    ATTR_JTI,
    ATTR_TOKEN_FP,
)

Row = dict[str, Any]
# A tool call's answer, from the result that reports it: (outcome, outcome detail, result id).
Answer = tuple[str, str, str]


@dataclass(slots=True)
class StitchOutput:
    """Rows for each ledger table, produced by one batch."""

    raw_events: list[Row] = field(default_factory=list)
    actions: list[Row] = field(default_factory=list)
    sessions: list[Row] = field(default_factory=list)
    session_keys: list[Row] = field(default_factory=list)
    session_aliases: list[Row] = field(default_factory=list)
    credentials: list[Row] = field(default_factory=list)
    web_identities: list[Row] = field(default_factory=list)
    declarations: list[Row] = field(default_factory=list)
    attributions: list[Row] = field(default_factory=list)
    # Not tables: what the drift stage reads of the batch (``processors.scoring``), so that
    # it need not walk every row to find it. Each event that acts or answers, in arrival
    # order: a tool or API call with its first action row, a result with its raw row (whose
    # session is set once the batch is stitched); and each paired result's call.
    fed: list[tuple[Event, Row]] = field(default_factory=list)
    answered: dict[str, str] = field(default_factory=dict)  # result id -> call id

    def tables(self) -> list[tuple[str, list[Row]]]:
        # raw_events last: its presence marks a batch done (``processors.recount``).
        return [
            ("session_keys", self.session_keys),
            ("actions", self.actions),
            ("sessions", self.sessions),
            # After the sessions: a merge in the ledger is counted in its session's row.
            ("session_aliases", self.session_aliases),
            ("credentials", self.credentials),
            ("web_identities", self.web_identities),
            ("attributions", self.attributions),
            # After the labels it brought: a declaration in the ledger is applied in full.
            ("declarations", self.declarations),
            ("raw_events", self.raw_events),
        ]


# -- raw_events --------------------------------------------------------------------------------
def raw_event_row(env: Envelope, session_id: str, version: int = 0) -> Row:
    # The raw record is the ledger's source of truth: every projection can be rebuilt by
    # parsing it again, so the normalized event is not stored twice. Its source id is kept
    # beside it: a record (a tool result, which is no action) is found by the source's id.
    e = env.event
    ref = env.raw_ref or ("", 0, 0)
    return {
        "event_id": e.event_id,
        "source": e.source,
        "kind": e.kind,
        "event_time": ts(e.event_time),
        "ingested_at": ts(env.ingested_at),
        "ingest_batch": env.ingest_batch,
        "position": e.position,
        "raw_topic": ref[0],
        "raw_partition": ref[1],
        "raw_offset": ref[2],
        "raw": e.raw,
        "session_id": session_id,
        "source_id": e.source_id,
        # Set by the sink's tamper-evidence stage (``processors.evidence``) once the row's
        # place in its stream is known; left empty elsewhere (a rebuild writes no records).
        "chain_stream": "",
        "chain_seq": 0,
        "chain_prev": "",
        "chain_hash": "",
        "stitch_version": version,  # its batch's, as its projection rows carry
    }


# -- actions -----------------------------------------------------------------------------------
class KeyLink(Protocol):
    """How an action joined its session: the key that linked it and the rule that did."""

    session_id: str
    key_type: str
    key_value: str
    rule: str


def action_row(
    event: Event,
    link: KeyLink,
    access: str,
    actors: Sequence[str],
    version: int,
    rpc_key: str = "",
    answer: Answer | None = None,
) -> Row:
    """An ``actions`` row; ``answer`` is a tool call's result when it was seen first."""
    if answer is None:
        outcome, outcome_detail, outcome_event_id = event.outcome, event.outcome_detail or "", ""
    else:
        outcome, outcome_detail, outcome_event_id = answer
    return {
        "action_id": event.event_id,
        "session_id": link.session_id,
        "event_time": ts(event.event_time),
        "source": event.source,
        "kind": event.kind,
        "operation": event.operation,
        "service": event.service or "",
        "resource": event.resource or "",
        "arguments": event.attributes.get(ATTR_ARGUMENTS, ""),
        "principal": event.principal or "",
        "principal_type": event.principal_type or "",
        "client_id": event.client_id or "",
        "agent_name": event.agent_name or "",
        "agent_version": event.agent_version or "",
        "agent_instance": event.agent_instance or "",
        "scopes": event.scopes,
        "intent": event.intent or "",
        "outcome": outcome,
        "outcome_detail": outcome_detail,
        "outcome_event_id": outcome_event_id,
        "rpc_key": rpc_key,
        "link_key_type": link.key_type,
        "link_key": link.key_value,
        "link_rule": link.rule,
        "access": access,
        "actors": list(actors),
        "source_id": event.source_id,
        "version": version,
    }


def answered_action(call: Mapping[str, Any], answer: Answer, version: int) -> Row:
    """A tool call's ``actions`` row again, now with the outcome its result reports."""
    row = dict(call)
    row["outcome"], row["outcome_detail"], row["outcome_event_id"] = answer
    row["version"] = version
    return row


# -- sessions ----------------------------------------------------------------------------------
@dataclass(slots=True)
class SessionRow:
    """A ``sessions`` row: its fields are the table's columns but ``version``. The stitcher
    keeps one per session up to date (``processors.sessions.SessionState``)."""

    session_id: str
    first_seen: datetime
    last_seen: datetime
    principal: str = ""
    principal_type: str = ""
    origin_type: str = ""
    origin_principal: str = ""
    agent_name: str = ""
    agent_version: str = ""
    agent_instance: str = ""
    client_id: str = ""
    intent: str = ""
    scopes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    event_count: int = 0
    action_count: int = 0
    failure_count: int = 0
    declared: bool = False
    intent_source: str = ""
    intent_tools: list[str] = field(default_factory=list)
    intent_resources: list[str] = field(default_factory=list)
    intent_actions: list[str] = field(default_factory=list)
    upstream_session_id: str = ""
    agent_spiffe_id: str = ""
    # The counters when the write of this row began (``processors.recount``).
    base_event_count: int = 0
    base_action_count: int = 0
    base_failure_count: int = 0
    base_merged: list[str] = field(default_factory=list)  # merged in that write

    def row(self, version: int) -> Row:
        """The row to write: every field as its column, times as ClickHouse text, at most
        64 keys (a long session's keys stay in ``session_keys``)."""
        row: Row = dict(zip(_SESSION_COLUMNS, _session_values(self), strict=True))
        row["first_seen"] = ts(self.first_seen)
        row["last_seen"] = ts(self.last_seen)
        row["keys"] = self.keys[:64]
        row["version"] = version
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any], parse_time: Callable[[Any], datetime]) -> Self:
        """From a ``sessions`` row read back from the ledger. A column the row lacks (one
        added after it was read) and a field that is no column keep their defaults."""
        values: dict[str, Any] = {}
        for column in fields(cls):
            if column.name not in row:
                continue
            value = row[column.name]
            if column.name in _SESSION_TIMES:
                value = parse_time(value)
            elif column.default_factory is list:
                value = list(value)
            elif isinstance(column.default, bool):
                value = bool(value)
            values[column.name] = value
        return cls(**values)


_SESSION_TIMES = frozenset({"first_seen", "last_seen"})
_SESSION_COLUMNS = tuple(f.name for f in fields(SessionRow))
_session_values = attrgetter(*_SESSION_COLUMNS)  # every column's value at once


# -- session_keys and session_aliases ----------------------------------------------------------
def session_key_row(
    key_type: str,
    key_value: str,
    session_id: str,
    first_seen: datetime,
    event_id: str,
    version: int,
) -> Row:
    """A key that leads to a session; ``event_id`` is "" for a declared binding."""
    return {
        "key_type": key_type,
        "key_value": key_value,
        "session_id": session_id,
        "first_seen": ts(first_seen),
        "event_id": event_id,
        "version": version,
    }


def session_alias_row(
    alias_id: str,
    session_id: str,
    rule: str,
    key_type: str,
    key_value: str,
    event_id: str,
    version: int,
) -> Row:
    """A session merged into ``session_id``, with the key and the rule that merged it."""
    return {
        "alias_id": alias_id,
        "session_id": session_id,
        "rule": rule,
        "key_type": key_type,
        "key_value": key_value,
        "event_id": event_id,
        "version": version,
    }


# -- credentials -------------------------------------------------------------------------------
def credential_row(event: Event, session_id: str, version: int) -> Row:
    """The credential a token grant issued: an access token, or AWS temporary keys."""
    attrs = event.attributes
    credential_id = attrs.get(ATTR_JTI) or attrs.get(ATTR_ISSUED_ACCESS_KEY) or event.event_id
    return {
        "credential_id": credential_id,
        "kind": "access_token" if attrs.get(ATTR_JTI) else "aws_temporary_key",
        "session_id": session_id,
        "issued_at": ts(event.event_time),
        "expires_at": attrs.get(ATTR_EXPIRES_AT, ""),
        "principal": event.principal or "",
        "client_id": event.client_id or "",
        "scopes": event.scopes,
        "fingerprint": attrs.get(ATTR_TOKEN_FP, ""),
        "claims": attrs.get(ATTR_CLAIMS, ""),
        "event_id": event.event_id,
        "version": version,
    }


# -- web_identities ----------------------------------------------------------------------------
TOKEN_ROLE = "token"  # noqa: S105 (a role's name)
EXCHANGE_ROLE = "exchange"
WebIdentity = tuple[str, str, str]  # issuer, subject, audience


def held_token_row(
    identity: WebIdentity,
    name: str,
    session_id: str,
    issued_at: datetime,
    expires_at: datetime,
    version: int,
) -> Row:
    """A web identity token a session presented, named by its jti or keyed fingerprint."""
    return _web_identity_row(
        TOKEN_ROLE, identity, name, session_id, issued_at, expires_at, False, version
    )


def exchange_row(
    identity: WebIdentity,
    event_id: str,
    session_id: str,
    at: datetime,
    waiting: bool,
    version: int,
) -> Row:
    """A token exchange no session's token accounted for (``waiting``), or no longer."""
    return _web_identity_row(
        EXCHANGE_ROLE, identity, event_id, session_id, at, at, waiting, version
    )


def _web_identity_row(
    role: str,
    identity: WebIdentity,
    name: str,
    session_id: str,
    issued_at: datetime,
    expires_at: datetime,
    waiting: bool,
    version: int,
) -> Row:
    issuer, subject, audience = identity
    return {
        "role": role,
        "issuer": issuer,
        "subject": subject,
        "audience": audience,
        "name": name,
        "session_id": session_id,
        "issued_at": ts(issued_at),
        "expires_at": ts(expires_at),
        "waiting": waiting,
        "version": version,
    }


# -- declarations ------------------------------------------------------------------------------
def declaration_row(declaration: SessionDeclaration, version: int) -> Row:
    return {
        "session_id": declaration.session_id,
        "declared_at": ts(declaration.declared_at),
        "declaration": declaration.model_dump_json(),
        "declared_by": declaration.declared_by or "",
        "version": version,
    }


# -- attributions ------------------------------------------------------------------------------
class Label(Protocol):
    """An action's label and what decided it (``processors.labels.Attribution``)."""

    @property
    def label(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def origin_type(self) -> str: ...
    @property
    def origin_principal(self) -> str: ...
    @property
    def confused_deputy(self) -> bool: ...
    @property
    def evidence(self) -> Sequence[Mapping[str, str]]: ...


def attribution_row(
    label: Label,
    action_id: str,
    session_id: str,
    event_time: datetime,
    chain: Sequence[Mapping[str, str]],
    version: int,
) -> Row:
    """An action's label; ``chain`` (its hops) and the evidence are stored as JSON text."""
    return {
        "action_id": action_id,
        "session_id": session_id,
        "event_time": ts(event_time),
        "label": label.label,
        "rule": label.rule,
        "agent": label.agent,
        "origin_type": label.origin_type,
        "origin_principal": label.origin_principal,
        "chain": _json(chain),
        "confused_deputy": label.confused_deputy,
        "evidence": _json(label.evidence),
        "version": version,
    }


def _json(value: Sequence[Mapping[str, str]]) -> str:
    # Evidence and hops are built in a fixed key order, so plain dumps is stable.
    return orjson.dumps(value).decode()
