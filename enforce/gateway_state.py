"""What the MCP gateway knows about each client connection, as plain values: the keys that
bind it to its ledger session, the contractions that apply to it, and the refusals they
make. No network here: the gateway feeds it what it sees and asks it what to do.

A connection is bound by every key it has shown: its bearer token's ``jti``, ``txn`` and
keyed fingerprint, the trace id of each ``traceparent``, its ``Mcp-Session-Id``: the same
keys, read the same way, as ingest gives the events the gateway records, so the ledger
session that the policy contracts names them in the contraction's ``keys``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from ingest.mcp import trace_id
from kernel.contraction import Contraction
from kernel.events import KEY_JTI, KEY_MCP_SESSION, KEY_TOKEN_FP, KEY_TRACE, KEY_TXN
from kernel.tokens import SCHEMES, decode_jwt_claims, fingerprint

Key = tuple[str, str]
T = TypeVar("T")

# The key types a connection can show; a contraction's other keys cannot match one.
BINDING_KEY_TYPES: Final = frozenset({KEY_JTI, KEY_TOKEN_FP, KEY_MCP_SESSION, KEY_TRACE, KEY_TXN})
# JSON-RPC error codes of the gateway's refusals (implementation-defined server errors).
CONTRACTION_REFUSAL: Final = -32050
DRIFT_REFUSAL: Final = -32051
_SCHEME_WORDS = frozenset(s.lower() for s in SCHEMES)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credential of an ``Authorization`` header (``Bearer …`` or another scheme)."""
    value = headers.get("authorization")
    if not value:
        return None
    parts = value.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() in _SCHEME_WORDS:
        return parts[1].strip() or None
    return value.strip() or None


def binding_keys(
    headers: Mapping[str, str], meta: Mapping[str, Any] | None, session_id: str | None
) -> set[Key]:
    """The keys one request shows (``headers`` lower-cased).

    The token's fingerprint is the one ingest writes in its place (HMAC of the credential
    without its scheme word), its claims are decoded without verifying the signature (the
    ledger binds by them; it does not authorize by them).
    """
    keys: set[Key] = set()
    token = bearer_token(headers)
    if token:
        keys.add((KEY_TOKEN_FP, fingerprint(token)))
        claims = decode_jwt_claims(token) or {}
        for claim, key_type in (("jti", KEY_JTI), ("txn", KEY_TXN)):
            value = claims.get(claim)
            if isinstance(value, str) and value:
                keys.add((key_type, value))
    session = headers.get("mcp-session-id") or session_id
    if session:
        keys.add((KEY_MCP_SESSION, session))
    trace = trace_id(headers.get("traceparent")) or trace_id((meta or {}).get("traceparent"))
    if trace:
        keys.add((KEY_TRACE, trace))
    return keys


@dataclass(frozen=True, slots=True)
class Refusal:
    """A JSON-RPC error the gateway answers in the upstream server's place."""

    code: int
    message: str
    data: dict[str, Any]


def contraction_refusal(contraction: Contraction, tool: str | None) -> Refusal:
    reason = "; ".join(contraction.reasons) or "no reason given"
    what = f"tool {tool!r}" if tool and not contraction.ends_session else "this session"
    return Refusal(
        CONTRACTION_REFUSAL,
        f"refused: {what} contracted by {contraction.decision} "
        f"(contraction {contraction.contraction_id}): {reason}",
        {
            "contraction_id": contraction.contraction_id,
            "decision": contraction.decision,
            "reasons": list(contraction.reasons),
            "session_id": contraction.session_id,
            "cause_action_id": contraction.cause_action_id,
            "cause_tool": contraction.cause_tool,
            "score": contraction.score,
            "model_version": contraction.model_version,
            "policy_rule": contraction.policy_rule,
        },
    )


def drift_refusal(
    tool: str, score: float, reasons: Iterable[str], model_version: str, out_of_bounds: bool
) -> Refusal:
    listed = list(reasons)
    return Refusal(
        DRIFT_REFUSAL,
        f"refused: call of {tool!r} drifts from the session's intent "
        f"(score {score:.2f}): {'; '.join(listed) or 'no reason given'}",
        {
            "decision": "refused_inline",
            "tool": tool,
            "score": score,
            "reasons": listed,
            "model_version": model_version,
            "out_of_bounds": out_of_bounds,
        },
    )


class KeyedBook(Generic[T]):
    """Items (contractions, declarations) by the binding keys they name, so that one which
    arrives before its connection applies when the connection shows a key. An item id seen
    before adds nothing (a replay). Bounded: the oldest are forgotten first."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._items: OrderedDict[str, tuple[tuple[Key, ...], T]] = OrderedDict()
        self._by_key: dict[Key, set[str]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item_id: str, keys: Iterable[Key], item: T) -> bool:
        """``True`` when the item is new."""
        if item_id in self._items:
            return False
        named = tuple(key for key in keys if key[0] in BINDING_KEY_TYPES)
        self._items[item_id] = (named, item)
        for key in named:
            self._by_key.setdefault(key, set()).add(item_id)
        while len(self._items) > self.limit:
            old_id, (old_keys, _) = self._items.popitem(last=False)
            for key in old_keys:
                ids = self._by_key.get(key)
                if ids is not None:
                    ids.discard(old_id)
                    if not ids:
                        del self._by_key[key]
        return True

    def matching(self, keys: Iterable[Key]) -> list[T]:
        """The items naming any of ``keys``, oldest first."""
        ids: set[str] = set()
        for key in keys:
            ids |= self._by_key.get(key, set())
        return [item for item_id, (_, item) in self._items.items() if item_id in ids]


@dataclass(slots=True)
class Enforcement:
    """One client connection's binding and what the contractions on it have decided."""

    keys: set[Key] = field(default_factory=set)
    applied: dict[str, Contraction] = field(default_factory=dict)
    removed_tools: dict[str, Contraction] = field(default_factory=dict)  # tool → first remover
    ended_by: Contraction | None = None

    def add_keys(self, keys: Iterable[Key]) -> set[Key]:
        """The keys not shown before (the caller looks up contractions for them)."""
        new = set(keys) - self.keys
        self.keys |= new
        return new

    def matches(self, contraction: Contraction) -> bool:
        return any(tuple(key) in self.keys for key in contraction.keys)

    def apply(self, contraction: Contraction) -> bool:
        """Apply a contraction that matches this connection; ``True`` when the tools the
        client may see changed (the gateway then sends ``notifications/tools/list_changed``).
        A contraction already applied changes nothing."""
        cid = contraction.contraction_id
        if cid in self.applied:
            return False
        self.applied[cid] = contraction
        changed = False
        for tool in contraction.removed_tools:
            if tool not in self.removed_tools:
                self.removed_tools[tool] = contraction
                changed = True
        if contraction.ends_session and self.ended_by is None:
            self.ended_by = contraction
            changed = True
        return changed

    def refusal(self, method: str, tool: str | None = None) -> Refusal | None:
        """Why a request must not reach the upstream server, or ``None`` to forward it.
        After ``halt`` or ``revoke`` every request but ``ping`` is refused (``tools/list`` is
        answered with no tools instead); after ``narrow``, calls of the removed tools."""
        if method in ("ping", "tools/list"):
            return None
        if self.ended_by is not None:
            return contraction_refusal(self.ended_by, tool)
        if method == "tools/call" and tool is not None and tool in self.removed_tools:
            return contraction_refusal(self.removed_tools[tool], tool)
        return None

    def visible_tools(self, tools: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """A ``tools/list`` answer's tools as this connection may see them."""
        if self.ended_by is not None:
            return []
        return [tool for tool in tools if tool.get("name") not in self.removed_tools]
