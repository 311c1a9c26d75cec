"""The normalized event: what every source's parser produces and every processor consumes.

One envelope for every kind, with a ``kind`` discriminator and a small string map for the
kind-specific details; the Avro schema in ``schemas/`` mirrors it field by field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import orjson

# Kinds of event. A chain is built from these; each becomes one link of a session.
IDENTITY: Final = "identity"  # sign-in, IdP session start, MFA and account events
TOKEN_GRANT: Final = "token_grant"  # noqa: S105 (a kind, not a secret); a credential issued: OAuth token, STS temporary keys
TOOL_CALL: Final = "tool_call"  # MCP tools/call request
TOOL_RESULT: Final = "tool_result"  # MCP result or error answering an earlier request
MCP_MESSAGE: Final = "mcp_message"  # other MCP traffic: initialize, tools/list, notifications
API_CALL: Final = "api_call"  # a call against a provider API (CloudTrail and the like)
KINDS: Final = (IDENTITY, TOKEN_GRANT, TOOL_CALL, TOOL_RESULT, MCP_MESSAGE, API_CALL)

# Outcomes.
SUCCESS: Final = "success"
FAILURE: Final = "failure"
PENDING: Final = "pending"  # a request whose answer has not been seen yet
UNKNOWN: Final = "unknown"
OUTCOMES: Final = (SUCCESS, FAILURE, PENDING, UNKNOWN)

# What an action does to its resource, as a declared intent's ``actions`` names it.
READ: Final = "read"
WRITE: Final = "write"
DELETE: Final = "delete"
ACCESS_CLASSES: Final = (READ, WRITE, DELETE)

# Where an event's time came from (attribute ``time_source``): its record, or, for a record
# that carries none, the moment ingest saw it. An observed time differs on each replay of
# the same record (same event id), so the ledger is asked for such events by id alone.
TIME_SOURCE: Final = "time_source"
TIME_OBSERVED: Final = "observed"

# Correlation key types, strongest first. A key links every event that carries it.
KEY_JTI: Final = "jti"  # token id (OAuth jti, Okta access token id)
KEY_TOKEN_FP: Final = "token_fp"  # noqa: S105 (a key type); keyed fingerprint of a bearer token
KEY_MCP_SESSION: Final = "mcp_session"  # Mcp-Session-Id header (MCP 2025-11-25 and before)
KEY_TRACE: Final = "trace"  # W3C trace id (traceparent)
KEY_TXN: Final = "txn"  # transaction-token txn
KEY_AWS_ACCESS_KEY: Final = "aws_access_key"  # temporary (ASIA…) key issued by STS
KEY_AWS_SESSION_NAME: Final = (
    "aws_session_name"  # roleSessionName / sourceIdentity set by the caller
)
KEY_IDP_SESSION: Final = "idp_session"  # Okta externalSessionId and the like
KEY_IDP_TXN: Final = "idp_txn"  # Okta transaction.id
KEY_MCP_RPC: Final = (
    "mcp_rpc"  # pairs a JSON-RPC result with its request, never a session on its own
)
KEY_TYPES: Final = (
    KEY_JTI,
    KEY_TOKEN_FP,
    KEY_MCP_SESSION,
    KEY_TRACE,
    KEY_TXN,
    KEY_AWS_ACCESS_KEY,
    KEY_AWS_SESSION_NAME,
    KEY_IDP_SESSION,
    KEY_IDP_TXN,
    KEY_MCP_RPC,
)


@dataclass(slots=True, init=False)
class Event:
    """One normalized event. ``raw`` is the source record as written, secrets replaced;
    ``event_id`` is the ledger's own id of it, ``source_id`` the source's."""

    event_id: str
    source: str
    kind: str
    event_time: datetime
    operation: str
    position: str
    raw: str
    principal: str | None = None
    principal_type: str | None = None
    client_id: str | None = None
    agent_name: str | None = None
    agent_version: str | None = None
    agent_instance: str | None = None
    service: str | None = None
    resource: str | None = None
    outcome: str = UNKNOWN
    outcome_detail: str | None = None
    intent: str | None = None
    scopes: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    # The id the source gave the record (CloudTrail eventID, Okta uuid, ...), what an
    # analyst pastes from the source's console; "" when the record carries none.
    source_id: str = ""

    def __init__(
        self,
        event_id: str,
        source: str,
        kind: str,
        event_time: datetime,
        operation: str,
        position: str,
        raw: str,
        principal: str | None = None,
        principal_type: str | None = None,
        client_id: str | None = None,
        agent_name: str | None = None,
        agent_version: str | None = None,
        agent_instance: str | None = None,
        service: str | None = None,
        resource: str | None = None,
        outcome: str = UNKNOWN,
        outcome_detail: str | None = None,
        intent: str | None = None,
        scopes: list[str] | None = None,
        keys: list[tuple[str, str]] | None = None,
        attributes: dict[str, str] | None = None,
        source_id: str = "",
    ) -> None:
        # Written out (the fields and defaults declared above) so that compiled it runs
        # natively: mypyc leaves the ``__init__`` that ``dataclasses`` generates to the
        # interpreter, and an event is made for every record parsed and decoded.
        if event_time.tzinfo is None:
            raise ValueError("event_time must be timezone-aware (UTC)")
        self.event_id = event_id
        self.source = source
        self.kind = kind
        self.event_time = event_time
        self.operation = operation
        self.position = position
        self.raw = raw
        self.principal = principal
        self.principal_type = principal_type
        self.client_id = client_id
        self.agent_name = agent_name
        self.agent_version = agent_version
        self.agent_instance = agent_instance
        self.service = service
        self.resource = resource
        self.outcome = outcome
        self.outcome_detail = outcome_detail
        self.intent = intent
        self.scopes = [] if scopes is None else scopes
        self.keys = [] if keys is None else keys
        self.attributes = {} if attributes is None else attributes
        self.source_id = source_id


def canonical_json(value: Any) -> str:
    """Stable JSON text: sorted keys, no whitespace. The same record always hashes the same."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def event_id_for(source: str, canonical_raw: str, suffix: str = "") -> str:
    """Deterministic event id: replaying the same record yields the same id."""
    digest = hashlib.sha256(f"{source}\x00{canonical_raw}\x00{suffix}".encode())
    return digest.hexdigest()[:32]


def utc(value: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    return value.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Microseconds since the epoch: an event time as Avro's ``timestamp-micros`` and the
    ledger's ``DateTime64(6)`` keep it."""
    return (value - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=65_536)
def ch_ts(value: datetime) -> str:
    """``DateTime64(6, 'UTC')`` text for ClickHouse JSONEachRow inserts (cached: a batch
    repeats the same few ingest times and CloudTrail's whole-second event times)."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    # What ``isoformat(sep=" ", timespec="microseconds")`` gives up to the offset, in about
    # half its time: most event times are seen once, so most calls format.
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )
