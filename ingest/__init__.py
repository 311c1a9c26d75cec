"""Ingest: read each source in its real wire format, keep the record, hand on typed events."""

import kernel  # noqa: F401  (first: it serves the compiled hot path, kernel.native)
