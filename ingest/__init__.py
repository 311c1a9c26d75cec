"""Ingest: read each source in its real wire format, keep the record, hand on typed events."""
