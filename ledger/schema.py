"""Ledger tables. ``raw_events`` is the record; every other table is a projection of it.

Rows are written idempotently by id: ``raw_events`` is deduplicated by the writer before
insert (and by ReplacingMergeTree as a backstop); projections are ReplacingMergeTree by
``version``, so a re-stitched row replaces the one before it. Queries read with ``FINAL``.

``actions``, ``attributions`` and ``drift`` are ordered by action id, a random id, so the
actions of one session lie one per granule: reading a session's chain reads a granule per
action in each (a bloom filter on action_id keeps the other parts from reading one too).
Their granules are 1,024 rows rather than 8,192, which made a chain read at a million
actions about 1.7 times faster (a ledger created before keeps the granules it has: the
setting cannot be changed on a table).
"""

from __future__ import annotations

import re
from functools import cache

from ledger.chains import chain_ddl
from ledger.event_keys import keys_ddl

# drift.by_time: the columns the drift overview's panels read of a time range, ordered by
# time (see ADDED_PROJECTIONS). Not the whole row: the reasons, the tool, the model
# version and the scoring time are read by action or by session, never by a range, and a
# projection is a second copy of what it holds, written and merged with every insert: the
# table's insert and merge CPU was about a tenth more with the whole row (BENCHMARKS.md).
DRIFT_BY_TIME = (
    "SELECT action_id, event_time, agent, session_id, score, flagged, out_of_bounds, "
    "decision, policy_rule, contraction_id, version ORDER BY event_time"
)

TABLES: dict[str, str] = {
    "raw_events": """
        CREATE TABLE IF NOT EXISTS {db}.raw_events (
            event_id String,
            source LowCardinality(String),
            kind LowCardinality(String),
            event_time DateTime64(6, 'UTC'),
            ingested_at DateTime64(6, 'UTC'),
            stored_at DateTime64(6, 'UTC') DEFAULT now64(6),
            ingest_batch String,
            position String,
            raw_topic String,
            raw_partition Int32,
            raw_offset Int64,
            raw String,
            session_id String,
            source_id String DEFAULT '',
            chain_stream LowCardinality(String) DEFAULT '',
            chain_seq UInt64 DEFAULT 0,
            chain_prev String DEFAULT '',
            chain_hash String DEFAULT '',
            stitch_version UInt64 DEFAULT 0
        ) ENGINE = ReplacingMergeTree ORDER BY event_id
    """,
    "sessions": """
        CREATE TABLE IF NOT EXISTS {db}.sessions (
            session_id String,
            first_seen DateTime64(6, 'UTC'),
            last_seen DateTime64(6, 'UTC'),
            principal String,
            principal_type String,
            origin_type LowCardinality(String),
            origin_principal String,
            agent_name String,
            agent_version String,
            agent_instance String,
            client_id String,
            intent String,
            scopes Array(String),
            sources Array(String),
            keys Array(String),
            event_count UInt32,
            action_count UInt32,
            failure_count UInt32,
            declared Bool DEFAULT false,
            intent_source LowCardinality(String) DEFAULT '',
            intent_tools Array(String) DEFAULT [],
            intent_resources Array(String) DEFAULT [],
            intent_actions Array(String) DEFAULT [],
            upstream_session_id String DEFAULT '',
            agent_spiffe_id String DEFAULT '',
            base_event_count UInt32 DEFAULT event_count,
            base_action_count UInt32 DEFAULT action_count,
            base_failure_count UInt32 DEFAULT failure_count,
            base_merged Array(String) DEFAULT [],
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY session_id
    """,
    "actions": """
        CREATE TABLE IF NOT EXISTS {db}.actions (
            action_id String,
            session_id String,
            event_time DateTime64(6, 'UTC'),
            source LowCardinality(String),
            kind LowCardinality(String),
            operation String,
            service String,
            resource String,
            arguments String,
            principal String,
            principal_type String,
            client_id String,
            agent_name String,
            agent_version String,
            agent_instance String,
            scopes Array(String),
            intent String,
            outcome LowCardinality(String),
            outcome_detail String,
            outcome_event_id String,
            rpc_key String,
            link_key_type LowCardinality(String),
            link_key String,
            link_rule LowCardinality(String),
            access LowCardinality(String) DEFAULT '',
            actors Array(String) DEFAULT [],
            source_id String DEFAULT '',
            version UInt64,
            INDEX idx_session session_id TYPE bloom_filter GRANULARITY 4,
            INDEX idx_source_id source_id TYPE bloom_filter GRANULARITY 4,
            INDEX idx_action action_id TYPE bloom_filter(0.001) GRANULARITY 1,
            PROJECTION by_session (SELECT session_id, action_id ORDER BY session_id)
        ) ENGINE = ReplacingMergeTree(version) ORDER BY action_id
        SETTINGS deduplicate_merge_projection_mode = 'rebuild', index_granularity = 1024
    """,
    "session_keys": """
        CREATE TABLE IF NOT EXISTS {db}.session_keys (
            key_type LowCardinality(String),
            key_value String,
            session_id String,
            first_seen DateTime64(6, 'UTC'),
            event_id String,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (key_type, key_value)
    """,
    "session_aliases": """
        CREATE TABLE IF NOT EXISTS {db}.session_aliases (
            alias_id String,
            session_id String,
            rule LowCardinality(String),
            key_type String,
            key_value String,
            event_id String,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY alias_id
    """,
    "credentials": """
        CREATE TABLE IF NOT EXISTS {db}.credentials (
            credential_id String,
            kind LowCardinality(String),
            session_id String,
            issued_at DateTime64(6, 'UTC'),
            expires_at String,
            principal String,
            client_id String,
            scopes Array(String),
            fingerprint String,
            claims String,
            event_id String,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY credential_id
    """,
    # What token exchanges are matched against (``processors.federation``), kept so that a
    # restarted stitcher matches as the one before it did: each web identity token a session
    # presented (``role`` token: ``name`` its jti or keyed fingerprint, live from
    # ``issued_at`` to ``expires_at``), and each exchange that no session's token accounted
    # for when it arrived (``role`` exchange: ``name`` its event id, ``issued_at`` and
    # ``expires_at`` its time), written again with ``waiting`` false once one does.
    "web_identities": """
        CREATE TABLE IF NOT EXISTS {db}.web_identities (
            role LowCardinality(String),
            issuer String,
            subject String,
            audience String,
            name String,
            session_id String,
            issued_at DateTime64(6, 'UTC'),
            expires_at DateTime64(6, 'UTC'),
            waiting Bool,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (role, issuer, subject, audience, name)
    """,
    "declarations": """
        CREATE TABLE IF NOT EXISTS {db}.declarations (
            session_id String,
            declared_at DateTime64(6, 'UTC'),
            declaration String,
            declared_by String DEFAULT '',
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY session_id
    """,
    "attributions": """
        CREATE TABLE IF NOT EXISTS {db}.attributions (
            action_id String,
            session_id String,
            event_time DateTime64(6, 'UTC'),
            label LowCardinality(String),
            rule LowCardinality(String),
            agent String,
            origin_type LowCardinality(String),
            origin_principal String,
            chain String,
            confused_deputy Bool,
            evidence String,
            version UInt64,
            INDEX idx_session session_id TYPE bloom_filter GRANULARITY 4,
            INDEX idx_action action_id TYPE bloom_filter(0.001) GRANULARITY 1
        ) ENGINE = ReplacingMergeTree(version) ORDER BY action_id
        SETTINGS index_granularity = 1024
    """,
    "drift": """
        CREATE TABLE IF NOT EXISTS {db}.drift (
            action_id String,
            session_id String,
            event_time DateTime64(6, 'UTC'),
            agent String,
            tool String,
            score Float32,
            flagged Bool,
            out_of_bounds Bool,
            reasons Array(String),
            model_version LowCardinality(String),
            decision LowCardinality(String),
            policy_rule LowCardinality(String),
            contraction_id String,
            scored_at DateTime64(6, 'UTC'),
            version UInt64,
            INDEX idx_session session_id TYPE bloom_filter GRANULARITY 4,
            INDEX idx_action action_id TYPE bloom_filter(0.001) GRANULARITY 1,
            PROJECTION by_time ("""
    + DRIFT_BY_TIME
    + """)
        ) ENGINE = ReplacingMergeTree(version) ORDER BY action_id
        SETTINGS deduplicate_merge_projection_mode = 'rebuild', index_granularity = 1024
    """,
    "contractions": """
        CREATE TABLE IF NOT EXISTS {db}.contractions (
            contraction_id String,
            session_id String,
            agent String,
            cause_action_id String,
            cause_tool String,
            decision LowCardinality(String),
            removed_tools Array(String),
            removed_scopes Array(String),
            remaining_tools Array(String),
            remaining_scopes Array(String),
            score Float32,
            model_version LowCardinality(String),
            reasons Array(String),
            policy_rule LowCardinality(String),
            keys Array(String),
            event_time DateTime64(6, 'UTC'),
            decided_at DateTime64(6, 'UTC'),
            INDEX idx_session session_id TYPE bloom_filter GRANULARITY 4
        ) ENGINE = ReplacingMergeTree ORDER BY contraction_id
    """,
    "dead_letters": """
        CREATE TABLE IF NOT EXISTS {db}.dead_letters (
            dead_letter_id String,
            received_at DateTime64(6, 'UTC'),
            source LowCardinality(String),
            position String,
            reason String,
            field String,
            record String,
            ingest_batch String,
            chain_stream LowCardinality(String) DEFAULT '',
            chain_seq UInt64 DEFAULT 0,
            chain_prev String DEFAULT '',
            chain_hash String DEFAULT '',
            chained_record String DEFAULT ''
        ) ENGINE = ReplacingMergeTree ORDER BY dead_letter_id
    """,
    # The Shared Signals transmitter's outbox: one signed SET per contraction and receiver
    # stream, and what became of it (pending, delivered, acked, failed). The SET is kept as
    # signed, so one sent again after a restart is the same token with the same jti.
    "ssf_sets": """
        CREATE TABLE IF NOT EXISTS {db}.ssf_sets (
            stream String,
            contraction_id String,
            jti String,
            session_id String,
            delivery LowCardinality(String),
            token String,
            state LowCardinality(String),
            attempts UInt32,
            last_error String,
            created_at DateTime64(6, 'UTC'),
            updated_at DateTime64(6, 'UTC'),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (stream, contraction_id)
    """,
    # Signed digests of the raw events' hash chains (``processors.evidence``): one for each
    # run of positions of a stream, each naming the one before. ``body`` is the signed text
    # (the other columns repeat some of it, to be queried); a digest made again for the same
    # run (a retried write) replaces the first.
    "evidence_digests": """
        CREATE TABLE IF NOT EXISTS {db}.evidence_digests (
            stream LowCardinality(String),
            first_seq UInt64,
            last_seq UInt64,
            digest_id String,
            head String,
            made_at DateTime64(6, 'UTC'),
            kid String,
            body String,
            signature String
        ) ENGINE = ReplacingMergeTree ORDER BY (stream, first_seq)
    """,
}


# Columns added after a table was first released: a ledger created before gains them in
# place (``ADD COLUMN IF NOT EXISTS`` is a no-op on one created with them).
ADDED_COLUMNS: dict[str, list[str]] = {
    "raw_events": [
        "source_id String DEFAULT '' AFTER session_id",
        # Tamper evidence (``kernel.evidence``): the row's stream, position and chain hashes.
        "chain_stream LowCardinality(String) DEFAULT '' AFTER source_id",
        "chain_seq UInt64 DEFAULT 0 AFTER chain_stream",
        "chain_prev String DEFAULT '' AFTER chain_seq",
        "chain_hash String DEFAULT '' AFTER chain_prev",
        # The version of the stitch that wrote it, the same as its batch's projection rows:
        # a version no record carries tells a restart that the write of a projection row
        # did not finish (``ledger.projections.recorded_versions``).
        "stitch_version UInt64 DEFAULT 0 AFTER chain_hash",
    ],
    "sessions": [
        "intent_source LowCardinality(String) DEFAULT '' AFTER declared",
        "intent_tools Array(String) DEFAULT [] AFTER intent_source",
        "intent_resources Array(String) DEFAULT [] AFTER intent_tools",
        "intent_actions Array(String) DEFAULT [] AFTER intent_resources",
        "upstream_session_id String DEFAULT '' AFTER intent_actions",
        "agent_spiffe_id String DEFAULT '' AFTER upstream_session_id",
        # The counters the session had when the write of its row began: what a restart
        # restores when that write did not finish (``processors.recount``). A row written
        # before them reads its own counters.
        "base_event_count UInt32 DEFAULT event_count AFTER agent_spiffe_id",
        "base_action_count UInt32 DEFAULT action_count AFTER base_event_count",
        "base_failure_count UInt32 DEFAULT failure_count AFTER base_action_count",
        # The sessions merged into it in that write, whose counters its base includes.
        "base_merged Array(String) DEFAULT [] AFTER base_failure_count",
    ],
    "declarations": ["declared_by String DEFAULT '' AFTER declaration"],
    # A raw event the ledger refused keeps its place in its stream's hash chain through its
    # dead letter (``ledger.evidence.refused_links``): the position and hashes it was chained
    # with, and the fields its record hash covers, as JSON.
    "dead_letters": [
        "chain_stream LowCardinality(String) DEFAULT '' AFTER ingest_batch",
        "chain_seq UInt64 DEFAULT 0 AFTER chain_stream",
        "chain_prev String DEFAULT '' AFTER chain_seq",
        "chain_hash String DEFAULT '' AFTER chain_prev",
        "chained_record String DEFAULT '' AFTER chain_hash",
    ],
    "actions": [
        "access LowCardinality(String) DEFAULT '' AFTER link_rule",
        "actors Array(String) DEFAULT [] AFTER access",
        "source_id String DEFAULT '' AFTER actors",
    ],
}
# Data-skipping indexes added after their table was first released. On an existing ledger
# an added index covers the parts written from then on; older parts are read in full.
#
# idx_action (actions, attributions, drift): a chain, or a saved query's picked actions, is
# read by action_id, the sorting key; but each part's primary index can only say where an
# id would be, so every part reads a granule per id, present or not: with five parts, 130
# granules for a session of 20 actions. The bloom filter (one false positive in a thousand
# per id and granule) skips those that hold none of the ids: 26 granules per table. The
# time gained is smaller than that suggests (at ten million actions the chain took about
# 93 ms instead of 107 at the median, a session read again; about 97 instead of 100 read
# the first time): most of a chain's time is not in these granules. Older parts gain it as
# they merge, or at once with ``ALTER TABLE … MATERIALIZE INDEX idx_action``.
_ACTION_ID_INDEX = "idx_action action_id TYPE bloom_filter(0.001) GRANULARITY 1"
ADDED_INDEXES: dict[str, list[str]] = {
    "actions": ["idx_source_id source_id TYPE bloom_filter GRANULARITY 4", _ACTION_ID_INDEX],
    "attributions": [_ACTION_ID_INDEX],
    "drift": [_ACTION_ID_INDEX],
}


# Projections added after their table was first released, each with the table setting it
# needs first (a ReplacingMergeTree keeps a projection only if told what to do with it when
# a merge folds rows away). On an existing ledger older parts gain it as they merge, or at
# once with ``ALTER TABLE … MATERIALIZE PROJECTION``; until then they are read without it.
#
# actions.by_session: a session's actions by session id. ``actions`` is ordered by
# action_id, random ids, so a session's actions lie one per granule all over the table; the
# bloom filter on session_id still reads about half the granules at a million actions. The
# projection (two narrow columns) finds their ids in one or two granules, and the chain is
# then read by action_id, its sorting key (``ledger/saved/session_chain.sql``).
#
# drift.by_time: the panels' columns of drift again, ordered by time (``DRIFT_BY_TIME``).
# Drift is ordered by action_id too, so a time range read with FINAL reads the whole
# table; the drift overview's panels group a range's rows by action instead (latest version
# by argMax), which the engine reads from this projection: at ten million actions a day's
# panel went from about a second to about 130 ms (``dashboards/drift.py``). A ledger made
# when it held the whole row keeps that one (``ADD PROJECTION IF NOT EXISTS``).
ADDED_PROJECTIONS: dict[str, list[tuple[str, str]]] = {
    "actions": [
        (
            "deduplicate_merge_projection_mode = 'rebuild'",
            "by_session (SELECT session_id, action_id ORDER BY session_id)",
        )
    ],
    "drift": [
        (
            "deduplicate_merge_projection_mode = 'rebuild'",
            f"by_time ({DRIFT_BY_TIME})",
        )
    ],
}


# Fewer, larger merges for the two tables every scored action writes a row to: ``drift``,
# and the chain table its view copies each row into. ClickHouse's merge selector merges
# parts of about equal size once ``merge_selector_base`` (5) of them lie side by side, so
# with an insert per worker write each row is merged again and again as the tables grow.
# At 20, about 200,000 events' drift rows cost the engine a sixth less CPU to insert and
# merge, and the ledger's peak did not rise (BENCHMARKS.md). The other tables keep the
# default: set on them as well, the ledger's peak rose by 100-150 MB with no saving that
# showed, where the embedded stack has little room under 2 GB.
# ``merge_selector_base`` is an expert setting newer than some servers: it is set only
# where the engine lists it (``system.merge_tree_settings``).
MERGE_SELECTOR_BASE = 20
FEWER_MERGES = ("drift", "chain_by_session")


def merge_settings(database: str, known: bool) -> list[str]:
    """The statements that give ``FEWER_MERGES`` their merge selector setting, if the
    engine knows it (``known``; none otherwise)."""
    if not known:
        return []
    return [
        f"ALTER TABLE {database}.{table} MODIFY SETTING merge_selector_base = {MERGE_SELECTOR_BASE}"
        for table in FEWER_MERGES
    ]


def ddl(database: str) -> list[str]:
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    statements += [" ".join(sql.split()).format(db=database) for sql in TABLES.values()]
    for table, columns in ADDED_COLUMNS.items():
        statements += [
            f"ALTER TABLE {database}.{table} ADD COLUMN IF NOT EXISTS {column}"
            for column in columns
        ]
    for table, indexes in ADDED_INDEXES.items():
        statements += [
            f"ALTER TABLE {database}.{table} ADD INDEX IF NOT EXISTS {index}" for index in indexes
        ]
    for table, projections in ADDED_PROJECTIONS.items():
        for setting, projection in projections:
            statements += [
                f"ALTER TABLE {database}.{table} MODIFY SETTING {setting}",
                f"ALTER TABLE {database}.{table} ADD PROJECTION IF NOT EXISTS {projection}",
            ]
    # After their sources: the session-ordered chain, the events' keys ordered by time, and
    # the views that fill them.
    return statements + chain_ddl(database) + keys_ddl(database)


_COLUMN = re.compile(r"^\s*(\w+)\s+(.+?)(?:\s+DEFAULT\s.*?)?,?\s*$")


@cache
def column_types(table: str) -> dict[str, str]:
    """``table``'s columns and their ClickHouse types, in order, read from its CREATE TABLE
    statement (indexes and projections left out; a column's DEFAULT is not part of its
    type)."""
    body = TABLES[table].split("(", 1)[1].rsplit(") ENGINE", 1)[0]
    types: dict[str, str] = {}
    for line in body.strip().splitlines():
        match = _COLUMN.match(line)
        if match is None or match.group(1) in ("INDEX", "PROJECTION"):
            continue
        types[match.group(1)] = match.group(2)
    return types
