"""Write the ledger's dashboards as Grafana JSON: ``python -m dashboards.build [DIR]``
(default ``dashboards/json``), or ``agentledger dashboards build``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import JSON_DIR, attribution, drift, pipeline, sessions

# File name (the dashboard's uid) → builder, in the order the dashboards are listed.
BUILDERS = {
    drift.UID: drift.build,
    sessions.UID: sessions.build,
    attribution.UID: attribution.build,
    pipeline.UID: pipeline.build,
}


def dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard's uid → its JSON model, panels numbered in order."""
    built: dict[str, dict[str, Any]] = {}
    for uid, build in BUILDERS.items():
        model: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        for number, panel in enumerate(model.get("panels", []), start=1):
            panel["id"] = number
        built[uid] = model
    return built


def render(model: dict[str, Any]) -> str:
    """The text of one dashboard's JSON file (stable: sorted keys, a final newline)."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard to ``directory/<uid>.json``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, model in dashboards().items():
        path = directory / f"{uid}.json"
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for path in write(Path(args[0]) if args else JSON_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
