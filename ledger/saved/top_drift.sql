-- The actions that drifted furthest from their session's intent in a time range, highest
-- score first: agent, tool, the model's reasons, the policy's decision and the
-- contraction it caused, with the action's label and outcome.
-- @param since DateTime64(6, 'UTC') = 1970-01-01: earliest event time (inclusive, UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: latest event time (exclusive, UTC)
-- @param limit UInt32 = 50: at most this many actions
WITH picked AS (
    SELECT action_id FROM {db}.drift FINAL
    WHERE event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY score DESC, action_id
    LIMIT {limit:UInt32}
)
SELECT
    d.action_id AS action_id,
    d.event_time AS event_time,
    d.session_id AS session_id,
    d.agent AS agent,
    d.tool AS tool,
    d.score AS drift_score,
    d.flagged AS flagged,
    d.out_of_bounds AS out_of_bounds,
    d.reasons AS reasons,
    d.model_version AS model_version,
    d.decision AS decision,
    d.contraction_id AS contraction_id,
    nullIf(t.label, '') AS label,
    a.outcome AS outcome
FROM (
    SELECT action_id, event_time, session_id, agent, tool, score, flagged, out_of_bounds,
        reasons, model_version, decision, contraction_id
    FROM {db}.drift FINAL
    WHERE event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    ORDER BY score DESC, action_id
    LIMIT {limit:UInt32}
) AS d
-- Labels and actions by action id (their sorting key), each one's latest version.
LEFT JOIN (
    SELECT action_id, label FROM {db}.attributions
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS t ON t.action_id = d.action_id
LEFT JOIN (
    SELECT action_id, outcome FROM {db}.actions
    WHERE action_id IN (SELECT action_id FROM picked)
    ORDER BY version DESC
    LIMIT 1 BY action_id
) AS a ON a.action_id = d.action_id
ORDER BY d.score DESC, d.action_id
