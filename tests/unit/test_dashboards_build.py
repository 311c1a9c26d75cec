"""The committed dashboard JSON is what the code builds now, and the provisioning files
agree with it (the data source's uid, a password from the environment only)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from agentledger.cli import main
from agentledger.panels import load_dashboards
from dashboards import JSON_DIR, PROVISIONING_DIR, build
from dashboards.model import DATASOURCE_UID, PLUGIN, SESSION_DASHBOARD


def test_the_committed_json_is_what_the_builder_makes() -> None:
    built = build.dashboards()
    committed = {path.stem: path.read_text(encoding="utf-8") for path in JSON_DIR.glob("*.json")}
    assert set(committed) == set(built), "run `agentledger dashboards build` and commit the JSON"
    for uid, model in built.items():
        assert committed[uid] == build.render(model), (
            f"dashboards/json/{uid}.json differs from the code: run "
            "`agentledger dashboards build` and commit the JSON"
        )


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard["panels"])


def test_every_panel_queries_the_ledger_through_the_datasource_variable() -> None:
    dashboards = load_dashboards()
    uids = {d["uid"] for d in dashboards}
    assert SESSION_DASHBOARD in uids
    for dashboard in dashboards:
        assert dashboard["timezone"] == "utc"
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["query"] == PLUGIN
        assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
        ids = [panel["id"] for panel in _panels(dashboard)]
        assert len(ids) == len(set(ids)), dashboard["uid"]
        for panel in _panels(dashboard):
            assert panel["datasource"] == {"type": PLUGIN, "uid": "${datasource}"}
            [target] = panel["targets"]
            assert target["editorType"] == "sql"
            assert target["format"] == (0 if panel["type"] == "timeseries" else 1)
            # Every ledger table the panel reads is a ReplacingMergeTree: read with FINAL, or
            # (drift, the chain table) grouped by action with each column's latest version.
            sql = target["rawSql"]
            for table in re.findall(r"\$\{database\}\.(\w+)(?! FINAL)\b", sql):
                by_action = "GROUP BY action_id" in sql
                latest = by_action and "argMax(score, version)" in sql
                chain = by_action and "argMaxIf(score, version, part = 'drift')" in sql
                assert (
                    table == "actions"
                    or (table == "drift" and latest)
                    or (table == "chain_by_session" and chain)
                ), f"{panel['title']} reads {table} without FINAL"
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    for link in prop["value"]:
                        assert link["url"].startswith(f"/d/{SESSION_DASHBOARD}/")


def test_a_macro_without_arguments_never_precedes_a_parenthesis() -> None:
    """Data source versions before the SQL SDK's fix (sqlds#82) took the next parentheses
    after ``$__name`` as its arguments, however far; a ``)`` or ``,`` first keeps them out."""
    for dashboard in load_dashboards():
        for panel in _panels(dashboard):
            sql = panel["targets"][0]["rawSql"]
            for found in re.finditer(r"\$__\w+", sql):
                rest = sql[found.end() :]
                if rest.startswith("("):
                    continue
                opening, closing = rest.find("("), rest.find(")")
                assert opening < 0 or 0 <= closing < opening, (panel["title"], found[0])


def test_the_provisioned_datasource_takes_its_password_from_the_environment() -> None:
    text = (PROVISIONING_DIR / "datasources" / "agentledger.yaml").read_text()
    [source] = yaml.safe_load(text)["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, PLUGIN)
    assert source["jsonData"]["protocol"] == "http"
    assert source["secureJsonData"] == {"password": "${AGENTLEDGER_SQL_PASSWORD}"}
    assert source["jsonData"]["username"] == "${AGENTLEDGER_SQL_USER}"
    [provider] = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "agentledger.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_the_build_command_writes_the_committed_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dashboards", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.json")}
    assert written == {
        path.name: path.read_text(encoding="utf-8") for path in JSON_DIR.glob("*.json")
    }
