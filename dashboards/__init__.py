"""Grafana dashboards as code for the ledger, read through its ClickHouse SQL endpoint with
the ``grafana-clickhouse-datasource`` plugin.

``python -m dashboards.build`` (or ``agentledger dashboards build``) writes ``json/*.json``
from the modules here; the JSON is committed, and a test checks it matches the code. The
JSON is all the running application reads (``agentledger.panels``), so importing this
package needs nothing beyond the standard library; the builder modules need the
``grafana-foundation-sdk`` of the ``dashboards`` extra.
"""

from __future__ import annotations

from pathlib import Path

JSON_DIR = Path(__file__).resolve().parent / "json"
PROVISIONING_DIR = Path(__file__).resolve().parent / "provisioning"
