-- The saved session chain as it read the ledger before the session-ordered chain table:
-- each action by id from actions, attributions and drift, its latest version of each
-- (tests/integration/test_saved_queries.py holds the new query to the same answer).
-- @param session_id String: the session, or one that was merged into it
WITH
    -- The surviving session and every session merged into it, each looked up once.
    (SELECT coalesce(nullIf(any(session_id), ''), {session_id:String})
     FROM {db}.session_aliases FINAL WHERE alias_id = {session_id:String}) AS root,
    (SELECT arrayConcat([root], groupArray(alias_id))
     FROM {db}.session_aliases FINAL WHERE session_id = root) AS members,
    -- Every action one version of which is in the chain, found by session id through the
    -- actions' by_session projection. Their rows are then read by action_id, the sorting
    -- key of actions, attributions and drift alike: every version, whichever session it
    -- names, so each action's latest version is known (what FINAL gives) while only the
    -- granules of these actions are read, and only the columns shown.
    candidates AS (SELECT action_id FROM {db}.actions WHERE has(members, session_id))
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
    SELECT action_id, session_id, event_time, source, kind, operation, service, resource,
        principal, agent_name, agent_instance, scopes, outcome, outcome_detail
    FROM {db}.actions
    WHERE action_id IN (SELECT action_id FROM candidates)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS a
LEFT JOIN (
    SELECT action_id, label, rule, confused_deputy FROM {db}.attributions
    WHERE action_id IN (SELECT action_id FROM candidates)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS t ON t.action_id = a.action_id
LEFT JOIN (
    SELECT action_id, score, flagged, decision FROM {db}.drift
    WHERE action_id IN (SELECT action_id FROM candidates)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS d ON d.action_id = a.action_id
CROSS JOIN (
    SELECT session_id, origin_type, origin_principal, intent, intent_source, scopes
    FROM {db}.sessions FINAL WHERE session_id = root
) AS s
WHERE has(members, a.session_id)
ORDER BY a.event_time, a.action_id
