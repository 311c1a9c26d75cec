"""Declared intent, the primitive: who starts a session, for whom, to do what, under which
scopes, and by which keys its later events will be recognised.

One JSON shape, accepted by ``POST /v1/sessions``, the ``ledger.sessions.declared`` topic and
``agentledger sessions declare``. A declaration is client-asserted evidence of intent,
never of authorization.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kernel import events as ev
from kernel.errors import LedgerError


class DeclarationError(LedgerError):
    """A declaration that cannot be accepted; ``field`` is the dotted path to blame."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Agent(_Strict):
    id: str = Field(min_length=1, max_length=256)
    instance: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=256)
    spiffe_id: str | None = None

    @field_validator("spiffe_id")
    @classmethod
    def _spiffe(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("spiffe://"):
            raise ValueError("must be a SPIFFE ID: spiffe://<trust-domain>/<path>")
        return value


class Origin(_Strict):
    type: Literal["human", "schedule", "agent"]
    principal: str | None = None
    prompt: str | None = Field(default=None, max_length=65_536)
    prompt_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    job_id: str | None = None
    upstream_session_id: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> Origin:
        needed = {"human": "principal", "schedule": "job_id", "agent": "upstream_session_id"}
        field = needed[self.type]
        if not getattr(self, field):
            raise ValueError(f"{field}: required when origin.type is {self.type!r}")
        if self.prompt is not None:
            digest = hashlib.sha256(self.prompt.encode()).hexdigest()
            if self.prompt_sha256 not in (None, digest):
                raise ValueError("prompt_sha256: is not the SHA-256 of prompt")
            self.prompt_sha256 = digest
        return self


class Intent(_Strict):
    text: str = Field(min_length=1, max_length=4_096)
    tools: list[str] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)

    @field_validator("actions")
    @classmethod
    def _access(cls, value: list[str]) -> list[str]:
        allowed = (*ev.ACCESS_CLASSES, "*")
        for item in value:
            if item not in allowed:
                raise ValueError(f"{item!r} is not one of {', '.join(allowed)}")
        return value


class Bindings(_Strict):
    token_jti: str | None = None
    txn: str | None = None
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    mcp_session_id: str | None = None
    client_id: str | None = None

    def correlation_keys(self) -> list[tuple[str, str]]:
        """The correlation keys later events carry (client_id alone identifies no session)."""
        pairs = [
            (ev.KEY_JTI, self.token_jti),
            (ev.KEY_TXN, self.txn),
            (ev.KEY_TRACE, self.trace_id),
            (ev.KEY_MCP_SESSION, self.mcp_session_id),
        ]
        return [(k, v) for k, v in pairs if v]


class SessionDeclaration(_Strict):
    session_id: str = Field(default_factory=lambda: f"s-{uuid.uuid4().hex[:20]}", max_length=128)
    agent: Agent
    origin: Origin
    intent: Intent
    scopes: list[str] = Field(default_factory=list)
    bindings: Bindings
    expected_duration_s: int | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    declared_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Who declared it, as the ledger authenticated them (``key:<name>``, ``jwt:<sub>@<iss>``).
    # Set by the HTTP API over whatever the body says; on the topic, what its producer wrote.
    declared_by: str | None = Field(default=None, max_length=512)

    @field_validator("declared_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a timezone (UTC)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _bound(self) -> SessionDeclaration:
        if not self.bindings.correlation_keys():
            raise ValueError(
                "bindings: needs at least one of token_jti, txn, trace_id, mcp_session_id"
            )
        return self


def describe_error(loc: Sequence[Any], message: str) -> tuple[str, str]:
    """The dotted field and the reason of one validation error.

    Model-level checks name their sub-field as ``"<name>: reason"`` (pydantic can only
    place them on the model), so ``origin`` + ``"principal: required…"`` becomes
    ``origin.principal``.
    """
    path = [str(p) for p in loc if p != "body"]
    reason = message.removeprefix("Value error, ")
    head, sep, rest = reason.partition(": ")
    if sep and head.isidentifier():
        path.append(head)
        reason = rest
    return ".".join(path), reason


def parse_declaration(data: Any) -> SessionDeclaration:
    """A validated declaration, or a ``DeclarationError`` naming the first bad field."""
    try:
        return SessionDeclaration.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field, reason = describe_error(first["loc"], first["msg"])
        raise DeclarationError(field, reason) from exc
