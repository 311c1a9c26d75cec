"""``agentledger dashboards``: build the ledger's Grafana dashboards from code, and push the
committed JSON to a Grafana with ``grafana-client`` (both need the ``dashboards`` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from agentledger.cli_common import console, json_option, print_json
from dashboards import JSON_DIR

TOKEN_ENV = ("AGENTLEDGER_GRAFANA_TOKEN", "GRAFANA_TOKEN")
PUSH_MESSAGE = "agentledger dashboards push"
_EXTRA = "pip install 'agentledger[dashboards]'"


@click.group()
def dashboards() -> None:
    """Grafana dashboards of the ledger, for the grafana-clickhouse-datasource plugin."""


@dashboards.command("build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write the JSON to [default: dashboards/json].",
)
def dashboards_build(out: Path | None) -> None:
    """Write the dashboards' JSON from their code (dashboards/*.py)."""
    try:
        from dashboards import build
    except ImportError as exc:
        raise click.ClickException(f"building dashboards needs {_EXTRA} ({exc})") from exc
    for path in build.write(out or JSON_DIR):
        console.print(str(path), highlight=False)


def _grafana_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            "give Grafana's URL, e.g. http://127.0.0.1:3000", param_hint="--grafana"
        )
    if parts.username or parts.password:
        raise click.BadParameter(
            f"put the credential in {TOKEN_ENV[0]}, not in the URL", param_hint="--grafana"
        )
    return url.rstrip("/")


def _load(directory: Path) -> list[dict[str, Any]]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise click.ClickException(f"no dashboard JSON in {directory}")
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def push(
    url: str, token: str, models: list[dict[str, Any]], folder: str, folder_uid: str
) -> list[dict[str, Any]]:
    """Create the folder if Grafana has none with ``folder_uid``, then create or overwrite
    each dashboard in it (by its uid); what Grafana answered for each."""
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError

    api = GrafanaApi.from_url(url, credential=token)
    try:
        api.folder.get_folder(folder_uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(folder, uid=folder_uid)
    pushed = []
    for model in models:
        reply = api.dashboard.update_dashboard(
            {
                "dashboard": {**model, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": PUSH_MESSAGE,
            }
        )
        pushed.append(
            {
                "uid": model["uid"],
                "title": model["title"],
                "status": reply.get("status", ""),
                "version": reply.get("version"),
                "url": reply.get("url", ""),
            }
        )
    return pushed


@dashboards.command("push")
@click.option("--grafana", "url", required=True, help="Grafana's URL, e.g. http://127.0.0.1:3000")
@click.option(
    "--token",
    envvar=list(TOKEN_ENV),
    show_envvar=True,
    default=None,
    help="A Grafana service account token with the Editor role; prefer the environment "
    "variable (an argument shows in the process list). Never printed.",
)
@click.option("--folder", default="Agent Ledger", show_default=True, help="Folder title.")
@click.option("--folder-uid", default="agentledger", show_default=True, help="Folder uid.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=JSON_DIR,
    help="Directory of the dashboard JSON [default: the committed dashboards/json].",
)
@json_option
def dashboards_push(
    url: str,
    token: str | None,
    folder: str,
    folder_uid: str,
    directory: Path,
    as_json: bool,
) -> None:
    """Upload the dashboards to a Grafana, overwriting those with the same uids."""
    url = _grafana_url(url)
    if not token:
        raise click.ClickException(
            f"no Grafana token: set {TOKEN_ENV[0]} to a service account token (Editor role)"
        )
    models = _load(directory)
    try:
        from grafana_client.client import GrafanaException
        from niquests.exceptions import RequestException
    except ImportError as exc:
        raise click.ClickException(f"pushing dashboards needs {_EXTRA} ({exc})") from exc
    host = urlsplit(url).netloc
    try:
        pushed = push(url, token, models, folder, folder_uid)
    except GrafanaException as exc:
        # Grafana's own words (status and message); the request, with its token, is not shown.
        raise click.ClickException(f"Grafana at {host} refused: {exc.message}") from None
    except RequestException as exc:
        raise click.ClickException(
            f"cannot reach Grafana at {host}: {type(exc).__name__}"
        ) from None
    if as_json:
        print_json(pushed)
        return
    for item in pushed:
        console.print(
            f"{item['uid']:<26} {item['status'] or '?':<8} v{item['version']}  {item['url']}",
            highlight=False,
        )
