-- What one person did, directly or through any agent, in a time range, oldest first:
-- the actions they took with their own credentials and those of sessions they started
-- (the person as the origin an action is attributed to), each with the agent, its
-- label, drift score (empty when not scored) and outcome.
-- @param person String: the person's principal (an IdP user name or e-mail, an IAM user)
-- @param since DateTime64(6, 'UTC') = 1970-01-01: earliest event time (inclusive, UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: latest event time (exclusive, UTC)
-- @param limit UInt32 = 1000: at most this many actions
WITH
    origin AS (
        SELECT action_id FROM {db}.attributions FINAL
        WHERE origin_principal = {person:String}
            AND event_time >= {since:DateTime64(6, 'UTC')}
            AND event_time < {until:DateTime64(6, 'UTC')}
    ),
    picked AS (
        SELECT action_id FROM {db}.actions FINAL
        WHERE event_time >= {since:DateTime64(6, 'UTC')}
            AND event_time < {until:DateTime64(6, 'UTC')}
            AND (principal = {person:String} OR action_id IN (SELECT action_id FROM origin))
        ORDER BY event_time, action_id
        LIMIT {limit:UInt32}
    )
SELECT
    a.action_id AS action_id,
    a.event_time AS event_time,
    a.session_id AS session_id,
    a.principal AS principal,
    t.origin_type AS origin_type,
    t.origin_principal AS origin_principal,
    t.agent AS attributed_agent,
    a.agent_name AS agent_name,
    a.operation AS operation,
    a.resource AS resource,
    nullIf(t.label, '') AS label,
    if(d.action_id = '', NULL, d.score) AS drift_score,
    a.outcome AS outcome
FROM (
    SELECT action_id, event_time, session_id, principal, agent_name, operation, resource,
        outcome
    FROM {db}.actions FINAL
    WHERE event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
        AND (principal = {person:String} OR action_id IN (SELECT action_id FROM origin))
    ORDER BY event_time, action_id
    LIMIT {limit:UInt32}
) AS a
-- Labels and scores by action id (their sorting key), each action's latest version.
LEFT JOIN (
    SELECT action_id, label, agent, origin_type, origin_principal FROM {db}.attributions
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS t ON t.action_id = a.action_id
LEFT JOIN (
    SELECT action_id, score FROM {db}.drift
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS d ON d.action_id = a.action_id
ORDER BY a.event_time, a.action_id
