"""The ClickHouse ledger: tables, the two store backends, and the HTTP interface over chDB."""

import kernel  # noqa: F401  (first: it serves the compiled hot path, kernel.native)
