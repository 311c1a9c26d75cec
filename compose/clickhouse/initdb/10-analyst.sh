#!/bin/bash
# First start of the ClickHouse server only (its data volume empty): the ledger's database and
# the analysts' user, read-only on that database alone. Grafana's ClickHouse data source sets
# max_execution_time on every query, which a read-only profile must let it change.
set -euo pipefail
: "${CLICKHOUSE_ANALYST_USER:?}" "${CLICKHOUSE_ANALYST_PASSWORD:?}" "${AGENTLEDGER_DATABASE:?}"
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS ${AGENTLEDGER_DATABASE};
CREATE SETTINGS PROFILE IF NOT EXISTS ledger_analyst
    SETTINGS readonly = 1, max_execution_time CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS ${CLICKHOUSE_ANALYST_USER}
    IDENTIFIED WITH sha256_password BY '${CLICKHOUSE_ANALYST_PASSWORD}'
    SETTINGS PROFILE ledger_analyst;
GRANT SELECT ON ${AGENTLEDGER_DATABASE}.* TO ${CLICKHOUSE_ANALYST_USER};
SQL
