"""The ClickHouse ledger: tables, the two store backends, and the HTTP interface over chDB."""
