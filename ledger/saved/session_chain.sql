-- One session's chain, as `agentledger sessions show` gives it: the session's origin,
-- intent and scope on every row, then each action in time order with its label, drift
-- score (empty when not scored) and outcome. A session merged into another gives the
-- surviving one's chain, with the actions of every session merged into it.
-- @param session_id String: the session, or one that was merged into it
WITH
    coalesce(
        nullIf(
            (SELECT any(session_id) FROM {db}.session_aliases FINAL
             WHERE alias_id = {session_id:String}),
            ''),
        {session_id:String}) AS root,
    members AS (
        SELECT root AS member
        UNION ALL
        SELECT alias_id FROM {db}.session_aliases FINAL WHERE session_id = root
    ),
    -- Every action a version of which was in the chain: found without FINAL (so the
    -- session index can skip), then read with FINAL by action_id (the sorting key), and
    -- kept only where its latest version is still in the chain.
    candidates AS (
        SELECT action_id FROM {db}.actions
        WHERE session_id IN (SELECT member FROM members)
    )
SELECT
    s.session_id AS session_id,
    s.origin_type AS origin_type,
    s.origin_principal AS origin_principal,
    s.intent AS intent,
    s.intent_source AS intent_source,
    s.scopes AS session_scopes,
    a.action_id AS action_id,
    a.event_time AS event_time,
    a.source AS source,
    a.kind AS kind,
    a.operation AS operation,
    a.service AS service,
    a.resource AS resource,
    a.principal AS principal,
    a.agent_name AS agent_name,
    a.agent_instance AS agent_instance,
    a.scopes AS action_scopes,
    nullIf(t.label, '') AS label,
    nullIf(t.rule, '') AS label_rule,
    t.confused_deputy AS confused_deputy,
    if(d.action_id = '', NULL, d.score) AS drift_score,
    if(d.action_id = '', NULL, d.flagged) AS drift_flagged,
    nullIf(d.decision, '') AS decision,
    a.outcome AS outcome,
    a.outcome_detail AS outcome_detail
FROM (
    SELECT * FROM {db}.actions FINAL
    WHERE action_id IN (SELECT action_id FROM candidates)
        AND session_id IN (SELECT member FROM members)
) AS a
LEFT JOIN (
    SELECT action_id, label, rule, confused_deputy FROM {db}.attributions FINAL
    WHERE action_id IN (SELECT action_id FROM candidates)
) AS t ON t.action_id = a.action_id
LEFT JOIN (
    SELECT action_id, score, flagged, decision FROM {db}.drift FINAL
    WHERE action_id IN (SELECT action_id FROM candidates)
) AS d ON d.action_id = a.action_id
CROSS JOIN (
    SELECT session_id, origin_type, origin_principal, intent, intent_source, scopes
    FROM {db}.sessions FINAL WHERE session_id = root
) AS s
ORDER BY a.event_time, a.action_id
