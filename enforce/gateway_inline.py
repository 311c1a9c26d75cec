"""Inline scoring (``agentledger gateway --inline``): each ``tools/call`` is scored by the
drift model before it is forwarded, so the first drifting call is refused before it runs.

One ``SessionTrail`` per client connection, fed what the gateway sees, in order: the
intent (the client-asserted ``userIntent`` of SEP-2817's ``aiInvocation`` in ``_meta``),
the agent (``clientInfo`` of ``initialize``), each ``tools/list`` answer, each call (scored,
which adds it to the trail) and each result's text. The scorer is any ``models.trail.Scorer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kernel.declaration import SessionDeclaration
from kernel.mcp_results import result_text
from models.trail import Call, DeclaredIntent, DriftScore, Scorer, SessionTrail, ToolInfo

_AI_INVOCATION = "io.modelcontextprotocol/aiInvocation"  # draft SEP-2817


def asserted_intent(meta: Mapping[str, Any] | None) -> str | None:
    """The intent a client asserts in a request's ``_meta`` (user intent, else the
    invocation reason); evidence of intent, never of authorization."""
    invocation = (meta or {}).get(_AI_INVOCATION)
    if not isinstance(invocation, Mapping):
        return None
    for field in ("userIntent", "invocationReason"):
        block = invocation.get(field)
        text = block.get("text") if isinstance(block, Mapping) else None
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


class InlineTrail:
    """One connection's trail, and what it was last told (an intent is set once per text)."""

    def __init__(self, scorer: Scorer, server: str) -> None:
        self.scorer = scorer
        self.server = server
        self.trail: SessionTrail = scorer.new_trail()
        self.intent: str | None = None
        self.declared: str | None = None  # the session id whose declaration is the intent

    def see_agent(self, client_info: Mapping[str, Any] | None, delegated: bool = False) -> None:
        name = (client_info or {}).get("name")
        if isinstance(name, str) and name:
            self.trail.set_agent(name, delegated)

    def see_declaration(self, declaration: SessionDeclaration) -> None:
        """The declared envelope: its tools, resources and actions bound every call from
        now on, and the client's own assertions no longer replace it."""
        if self.declared == declaration.session_id:
            return
        self.declared = declaration.session_id
        intent = declaration.intent
        self.trail.set_intent(
            DeclaredIntent(
                text=intent.text,
                tools=tuple(intent.tools),
                resources=tuple(intent.resources),
                actions=tuple(intent.actions),
                scopes=tuple(declaration.scopes),
                declared=True,
            )
        )
        self.trail.set_agent(declaration.agent.id, declaration.origin.type == "agent")

    def see_intent(self, meta: Mapping[str, Any] | None) -> None:
        if self.declared is not None:
            return
        text = asserted_intent(meta)
        if text is not None and text != self.intent:
            self.intent = text
            self.trail.set_intent(DeclaredIntent(text=text, declared=False))

    def see_tools(self, tools: Iterable[Mapping[str, Any]]) -> list[str]:
        """The changes under the running session (tool added, removed, re-described)."""
        return self.trail.see_tools(self.server, [ToolInfo.from_mcp(t) for t in tools])

    def score(self, action_id: str, tool: str, arguments: Mapping[str, Any] | None) -> DriftScore:
        call = Call(
            action_id=action_id,
            tool=tool,
            event_time=datetime.now(UTC),
            arguments=dict(arguments or {}),
            server=self.server,
        )
        return self.scorer.score(self.trail, call)

    def see_result(self, action_id: str, result: Mapping[str, Any]) -> None:
        self.trail.see_result(action_id, result_text(result), result.get("isError") is True)
