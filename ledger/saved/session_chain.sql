-- One session's chain, as `agentledger sessions show` gives it: the session's origin,
-- intent and scope on every row, then each action in time order with its label, drift
-- score (empty when not scored) and outcome. A session merged into another gives the
-- surviving one's chain, with the actions of every session merged into it.
-- @param session_id String: the session, or one that was merged into it
WITH
    -- The surviving session and every session merged into it, each looked up once.
    (SELECT coalesce(nullIf(any(session_id), ''), {session_id:String})
     FROM {db}.session_aliases FINAL WHERE alias_id = {session_id:String}) AS root,
    (SELECT arrayConcat([root], groupArray(alias_id))
     FROM {db}.session_aliases FINAL WHERE session_id = root) AS members
SELECT
    s.session_id AS session_id,
    s.origin_type AS origin_type,
    s.origin_principal AS origin_principal,
    s.intent AS intent,
    s.intent_source AS intent_source,
    s.scopes AS session_scopes,
    c.chain_action_id AS action_id,
    c.chain_event_time AS event_time,
    c.chain_source AS source,
    c.chain_kind AS kind,
    c.chain_operation AS operation,
    c.chain_service AS service,
    c.chain_resource AS resource,
    c.chain_principal AS principal,
    c.chain_agent_name AS agent_name,
    c.chain_agent_instance AS agent_instance,
    c.chain_scopes AS action_scopes,
    nullIf(c.chain_label, '') AS label,
    nullIf(c.chain_rule, '') AS label_rule,
    c.chain_confused_deputy AS confused_deputy,
    if(c.scored, c.chain_score, NULL) AS drift_score,
    if(c.scored, c.chain_flagged, NULL) AS drift_flagged,
    nullIf(c.chain_decision, '') AS decision,
    c.chain_outcome AS outcome,
    c.chain_outcome_detail AS outcome_detail
FROM (
    -- The chain's rows of actions, labels and drift, read in one range of the table kept in
    -- session order (ledger/chains.py): each action's latest version of each, as FINAL
    -- would give it. Every version of a chain's action names one of its members.
    SELECT
        action_id AS chain_action_id,
        argMaxIf(event_time, version, part = 'action') AS chain_event_time,
        argMaxIf(source, version, part = 'action') AS chain_source,
        argMaxIf(kind, version, part = 'action') AS chain_kind,
        argMaxIf(operation, version, part = 'action') AS chain_operation,
        argMaxIf(service, version, part = 'action') AS chain_service,
        argMaxIf(resource, version, part = 'action') AS chain_resource,
        argMaxIf(principal, version, part = 'action') AS chain_principal,
        argMaxIf(agent_name, version, part = 'action') AS chain_agent_name,
        argMaxIf(agent_instance, version, part = 'action') AS chain_agent_instance,
        argMaxIf(scopes, version, part = 'action') AS chain_scopes,
        argMaxIf(outcome, version, part = 'action') AS chain_outcome,
        argMaxIf(outcome_detail, version, part = 'action') AS chain_outcome_detail,
        argMaxIf(label, version, part = 'label') AS chain_label,
        argMaxIf(rule, version, part = 'label') AS chain_rule,
        argMaxIf(confused_deputy, version, part = 'label') AS chain_confused_deputy,
        countIf(part = 'drift') > 0 AS scored,
        argMaxIf(score, version, part = 'drift') AS chain_score,
        argMaxIf(flagged, version, part = 'drift') AS chain_flagged,
        argMaxIf(decision, version, part = 'drift') AS chain_decision
    FROM {db}.chain_by_session
    WHERE has(members, session_id)
    GROUP BY action_id
    HAVING countIf(part = 'action') > 0
) AS c
CROSS JOIN (
    SELECT session_id, origin_type, origin_principal, intent, intent_source, scopes
    FROM {db}.sessions FINAL WHERE session_id = root
) AS s
ORDER BY c.chain_event_time, c.chain_action_id
