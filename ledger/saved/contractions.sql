-- Scope contractions decided in a time range, newest first: the session and agent, the
-- decision (narrow, halt, revoke), the action and tool that caused it with its drift
-- score and reasons, the tools and scopes it removed and those that remained.
-- @param since DateTime64(6, 'UTC') = 1970-01-01: earliest decision time (inclusive, UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: latest decision time (exclusive, UTC)
-- @param limit UInt32 = 1000: at most this many contractions
SELECT
    contraction_id,
    decided_at,
    session_id,
    agent,
    decision,
    cause_action_id,
    cause_tool,
    score,
    reasons,
    removed_tools,
    removed_scopes,
    remaining_tools,
    remaining_scopes,
    policy_rule,
    model_version
FROM {db}.contractions FINAL
WHERE decided_at >= {since:DateTime64(6, 'UTC')} AND decided_at < {until:DateTime64(6, 'UTC')}
ORDER BY decided_at DESC, contraction_id
LIMIT {limit:UInt32}
