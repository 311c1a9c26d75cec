"""The words the layers share: attribution labels and rules, link rules, intent sources,
origin types, and the ``Event.attributes`` keys that parsers write and processors read.

They are stored in the ledger and printed in JSON, so each value is part of the product's
contract: rename a constant freely, never its value.
"""

from __future__ import annotations

from typing import Final

# -- attribution labels: who is behind an action ----------------------------------------------
DIRECT_USER: Final = "direct_user"
AGENT_DELEGATED: Final = "agent_delegated"
AGENT_AUTONOMOUS: Final = "agent_autonomous"
UNATTRIBUTED: Final = "unattributed"
LABELS: Final = (DIRECT_USER, AGENT_DELEGATED, AGENT_AUTONOMOUS, UNATTRIBUTED)

# The rule that decided a label (kept with it, so "why" has a short answer too).
RULE_PERSON: Final = "person_own_credentials"
RULE_NO_ACTOR: Final = "no_agent_no_person"
RULE_NO_SESSION: Final = "no_session_key"
RULE_COVERED: Final = "intent_covers"
RULE_OUTSIDE: Final = "outside_intent"
RULE_NO_INSTRUCTION: Final = "no_instruction"

# -- link rules: why an event joined its session ----------------------------------------------
LINK_NEW: Final = "new_session"
LINK_SHARED_KEY: Final = "shared_key"
LINK_SESSION_NAME: Final = "aws_session_name_binding"
LINK_WINDOW: Final = "principal_client_window"
LINK_MERGE: Final = "merge_shared_key"
LINK_DECLARED: Final = "declared_binding"
# A token exchange (AWS AssumeRoleWithWebIdentity and the like) joins the one session holding
# a live token of the same issuer, subject and audience: an inference from identity and
# time, weaker than any shared key. Two such sessions: it joins neither, and says so. None:
# it says that too. Decided once the re-stitch window has passed it; waiting until then.
LINK_WEB_IDENTITY: Final = "web_identity_inferred"
WEB_IDENTITY_KEY: Final = "web_identity"  # the key type of a link inferred by identity and time
LINK_WEB_IDENTITY_AMBIGUOUS: Final = "web_identity_ambiguous"
LINK_WEB_IDENTITY_UNHELD: Final = "web_identity_unheld"
LINK_WEB_IDENTITY_WAITING: Final = "web_identity_waiting"

# -- intent sources: who stated a session's intent, most authoritative first ------------------
INTENT_DECLARED: Final = "declared"  # the declarer, at session start
INTENT_TXN_TOKEN: Final = "txn_token"  # noqa: S105 (a source, not a secret); a transaction token's purpose
INTENT_MCP_CLIENT: Final = "mcp_ai_invocation"  # the MCP client's aiInvocation
INTENT_OTEL_AGENT: Final = "otel_invoke_agent"  # the prompt of an invoke_agent span
INTENT_SOURCES: Final = (INTENT_DECLARED, INTENT_TXN_TOKEN, INTENT_MCP_CLIENT, INTENT_OTEL_AGENT)

# -- origin types: what started a session ------------------------------------------------------
ORIGIN_HUMAN: Final = "human"
ORIGIN_SCHEDULE: Final = "schedule"
ORIGIN_AGENT: Final = "agent"
ORIGIN_TYPES: Final = (ORIGIN_HUMAN, ORIGIN_SCHEDULE, ORIGIN_AGENT)

# Principal types a source uses for a person (IdP users, IAM users, SAML federations, root).
HUMAN_TYPES: Final = frozenset({"User", "IAMUser", "SAMLUser", "Root"})

# -- Event.attributes keys that parsers write and processors read -----------------------------
ATTR_ACT_CHAIN: Final = "act_chain"  # RFC 8693 act chain, JSON list, acting party first
ATTR_ARGUMENTS: Final = "arguments"  # a tool call's arguments, canonical JSON
# An MCP result's text as the agent read it (``kernel.mcp_results.result_text``), secrets
# replaced; absent on a ``tools/list`` answer (read as a catalogue) and where it is empty.
ATTR_RESULT_TEXT: Final = "result_text"
# A ``tools/list`` answer's catalogue, named by its content (``catalogue_digest``).
ATTR_TOOLS_DIGEST: Final = "tools_digest"
ATTR_INTENT_SOURCE: Final = "intent_source"  # one of INTENT_SOURCES, beside Event.intent
ATTR_READ_ONLY: Final = "read_only"  # "true"/"false" where the source records it
ATTR_JTI: Final = "jti"  # the id of a token an identity provider granted
ATTR_ISSUED_ACCESS_KEY: Final = "issued_access_key"  # an STS temporary key id
ATTR_EXPIRES_AT: Final = "expires_at"  # when a granted credential expires
ATTR_TOKEN_FP: Final = "token_fp"  # noqa: S105 (a key name); keyed fingerprint of a granted token
ATTR_CLAIMS: Final = "claims"  # a granted token's claims, canonical JSON
# The bearer token an event presents, from its claims (``ingest.fields.apply_token_claims``).
ATTR_TOKEN_ISSUER: Final = "token_issuer"  # noqa: S105 (a key name); iss, as ``issuer_name``
ATTR_TOKEN_SUBJECT: Final = "token_subject"  # noqa: S105 (a key name); sub
ATTR_TOKEN_AUDIENCE: Final = "token_audience"  # noqa: S105 (a key name); aud, space-separated
ATTR_TOKEN_ISSUED_AT: Final = "token_issued_at"  # noqa: S105 (a key name); iat, ISO 8601 UTC
ATTR_TOKEN_EXPIRES_AT: Final = "token_expires_at"  # noqa: S105 (a key name); exp, ISO 8601 UTC
# The web identity a token exchange took in (AssumeRoleWithWebIdentity's provider, subject
# and audience): the token itself is not named, only whose it was.
ATTR_EXCHANGED_ISSUER: Final = "exchanged_issuer"
ATTR_EXCHANGED_SUBJECT: Final = "exchanged_subject"
ATTR_EXCHANGED_AUDIENCE: Final = "exchanged_audience"
