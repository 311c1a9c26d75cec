-- Scopes granted against scopes used, per agent, for the sessions seen in a time range:
-- granted is every scope the agent's sessions held (from their credentials and
-- declarations), used is every scope carried by one of its actions that succeeded, and
-- unused what was granted but never used: the candidates for a narrower grant.
-- @param since DateTime64(6, 'UTC') = 1970-01-01: sessions active at or after (UTC)
-- @param until DateTime64(6, 'UTC') = 2100-01-01: sessions that began before (UTC)
SELECT
    g.agent_name AS agent,
    g.sessions AS sessions,
    arraySort(g.granted) AS granted,
    arraySort(u.used) AS used,
    arraySort(arrayFilter(x -> NOT has(u.used, x), g.granted)) AS unused
FROM (
    SELECT agent_name, count() AS sessions, groupUniqArrayArray(scopes) AS granted
    FROM {db}.sessions FINAL
    WHERE agent_name != ''
        AND last_seen >= {since:DateTime64(6, 'UTC')}
        AND first_seen < {until:DateTime64(6, 'UTC')}
        AND session_id NOT IN (SELECT alias_id FROM {db}.session_aliases FINAL)
    GROUP BY agent_name
) AS g
LEFT JOIN (
    SELECT agent_name, groupUniqArrayArray(scopes) AS used
    FROM {db}.actions FINAL
    WHERE agent_name != '' AND outcome = 'success'
        AND event_time >= {since:DateTime64(6, 'UTC')}
        AND event_time < {until:DateTime64(6, 'UTC')}
    GROUP BY agent_name
) AS u ON u.agent_name = g.agent_name
ORDER BY agent
