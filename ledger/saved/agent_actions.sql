-- One agent's actions in a time range, oldest first: session, tool or operation, the
-- scope it ran under, its label, drift score (empty when not scored) and outcome.
-- @param agent String: the agent's name, as the actions carry it (agent_name)
-- @param since DateTime64(6, 'UTC') = 1970-01-01: earliest event time (inclusive, UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: latest event time (exclusive, UTC)
-- @param limit UInt32 = 1000: at most this many actions
WITH picked AS (
    SELECT action_id FROM {db}.actions FINAL
    WHERE agent_name = {agent:String}
        AND event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY event_time, action_id
    LIMIT {limit:UInt32}
)
SELECT
    a.action_id AS action_id,
    a.event_time AS event_time,
    a.session_id AS session_id,
    a.agent_name AS agent_name,
    a.agent_instance AS agent_instance,
    a.source AS source,
    a.kind AS kind,
    a.operation AS operation,
    a.resource AS resource,
    a.access AS access,
    a.principal AS principal,
    a.scopes AS scopes,
    nullIf(t.label, '') AS label,
    if(d.action_id = '', NULL, d.score) AS drift_score,
    nullIf(d.decision, '') AS decision,
    a.outcome AS outcome
FROM (
    SELECT action_id, event_time, session_id, agent_name, agent_instance, source, kind,
        operation, resource, access, principal, scopes, outcome
    FROM {db}.actions FINAL
    WHERE agent_name = {agent:String}
        AND event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY event_time, action_id
    LIMIT {limit:UInt32}
) AS a
-- Labels and scores by action id (their sorting key), each action's latest version.
LEFT JOIN (
    SELECT action_id, label FROM {db}.attributions
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS t ON t.action_id = a.action_id
LEFT JOIN (
    SELECT action_id, score, decision FROM {db}.drift
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS d ON d.action_id = a.action_id
ORDER BY a.event_time, a.action_id
