"""Declarations: a session a declarer names up front, with its origin, intent, agent and bindings.

The declared session id is the one handed back to the declarer, so it always survives: the
sessions its bindings already started merge into it, and a declared session is never merged
into another (``processors.linking``).
"""

from __future__ import annotations

from kernel.declaration import SessionDeclaration
from kernel.vocabulary import INTENT_DECLARED, LINK_DECLARED
from ledger.rows import StitchOutput, declaration_row, session_key_row
from processors.linking import Link, merge
from processors.sessions import SessionState, StitchState


def apply_declaration(
    state: StitchState, declaration: SessionDeclaration, out: StitchOutput, version: int
) -> str:
    """Apply ``declaration``; returns its session id. Its bindings now lead to that session,
    sessions already started by events carrying them merge into it, and the declared origin,
    intent, agent and scopes become the session's."""
    sid = declaration.session_id
    at = declaration.declared_at
    state.aliases.pop(sid, None)
    session = state.sessions.get(sid)
    if session is None:
        session = state.sessions[sid] = SessionState(sid, at, at)
    session.declared = True
    for key_type, value in declaration.bindings.correlation_keys():
        existing = state.key_index.get((key_type, value))
        if existing is not None and state.resolve(existing) != sid:
            owner = state.resolve(existing)
            if state.sessions[owner].declared:
                continue  # another declaration holds this binding; it stays its own
            link = Link(owner, key_type, value, LINK_DECLARED)
            merge(state, sid, link, "", LINK_DECLARED, out, version)
        if existing is None:
            state.key_index[(key_type, value)] = sid
            session.keys.append(f"{key_type}:{value}")
            out.session_keys.append(session_key_row(key_type, value, sid, at, "", version))
    origin = declaration.origin
    session.origin_type = origin.type
    session.origin_principal = origin.principal or origin.job_id or origin.upstream_session_id or ""
    intent = declaration.intent
    session.intent, session.intent_source = intent.text, INTENT_DECLARED
    session.intent_tools = list(intent.tools)
    session.intent_resources = list(intent.resources)
    session.intent_actions = list(intent.actions)
    if origin.upstream_session_id:
        session.upstream_session_id = origin.upstream_session_id
        state.downstream.setdefault(origin.upstream_session_id, set()).add(sid)
    agent = declaration.agent
    session.agent_name = agent.id
    session.agent_version = agent.version or session.agent_version
    session.agent_instance = agent.instance or agent.spiffe_id or session.agent_instance
    session.agent_spiffe_id = agent.spiffe_id or session.agent_spiffe_id
    session.client_id = declaration.bindings.client_id or session.client_id
    session.scopes = sorted(set(session.scopes) | set(declaration.scopes))
    session.first_seen = min(session.first_seen, at)
    out.sessions.append(session.row(version))
    out.declarations.append(declaration_row(declaration, version))
    return sid
