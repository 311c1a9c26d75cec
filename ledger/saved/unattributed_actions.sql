-- Actions no person is behind: those labelled unattributed (no session, or no agent and no
-- person) and agent_autonomous (an agent acting outside or without a stated intent),
-- newest first, with the rule that decided the label and whether it looked like a
-- confused deputy.
-- @param since DateTime64(6, 'UTC') = 1970-01-01: earliest event time (inclusive, UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: latest event time (exclusive, UTC)
-- @param limit UInt32 = 1000: at most this many actions
WITH picked AS (
    SELECT action_id FROM {db}.attributions FINAL
    WHERE label IN ('unattributed', 'agent_autonomous')
        AND event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY event_time DESC, action_id
    LIMIT {limit:UInt32}
)
SELECT
    t.action_id AS action_id,
    t.event_time AS event_time,
    t.label AS label,
    t.rule AS label_rule,
    t.confused_deputy AS confused_deputy,
    t.agent AS attributed_agent,
    t.session_id AS session_id,
    a.source AS source,
    a.operation AS operation,
    a.resource AS resource,
    a.principal AS principal,
    a.scopes AS scopes,
    a.outcome AS outcome
FROM (
    SELECT action_id, event_time, label, rule, confused_deputy, agent, session_id
    FROM {db}.attributions FINAL
    WHERE label IN ('unattributed', 'agent_autonomous')
        AND event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY event_time DESC, action_id
    LIMIT {limit:UInt32}
) AS t
-- The actions by action id (their sorting key), each one's latest version.
LEFT JOIN (
    SELECT action_id, source, operation, resource, principal, scopes, outcome
    FROM {db}.actions
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS a ON a.action_id = t.action_id
ORDER BY t.event_time DESC, t.action_id
