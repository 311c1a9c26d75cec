"""``agentledger keys``: API keys for the ledger's HTTP API (the ledger keeps only hashes)."""

from __future__ import annotations

from pathlib import Path

import click

from agentledger.auth import ROLES, ApiKeys
from agentledger.cli_common import console, data_dir_option, err_console, json_option, print_json
from kernel.config import load_settings


@click.group()
def keys() -> None:
    """API keys for the ledger's HTTP API (the ledger keeps only their hashes)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what will use the key (recorded as key:NAME).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="declare, analyst, ingest, signals or admin (repeat for several).",
)
@data_dir_option
@json_option
def keys_create(name: str, roles: tuple[str, ...], data_dir: Path | None, as_json: bool) -> None:
    """Create an API key and print it once; only its hash is kept."""
    settings = load_settings(data_dir=data_dir)
    key, record = ApiKeys(settings.data_dir).create(name, list(roles))
    if as_json:
        print_json({"key": key, **{k: v for k, v in record.items() if k != "sha256"}})
        return
    console.print(f"key {record['id']} for {name} ({', '.join(record['roles'])}):")
    console.print(key, soft_wrap=True, highlight=False)
    err_console.print("It is shown only now; send it as `Authorization: Bearer <key>`.")


@keys.command("list")
@data_dir_option
@json_option
def keys_list(data_dir: Path | None, as_json: bool) -> None:
    """The API keys: id, name, roles, created (never the key)."""
    settings = load_settings(data_dir=data_dir)
    listing = ApiKeys(settings.data_dir).listing()
    if as_json:
        print_json(listing)
        return
    for record in listing:
        console.print(
            f"{record['id']}  {record['name']:<20} {','.join(record['roles']):<22} "
            f"{record['created_at']}"
        )


@keys.command("revoke")
@click.argument("key_id")
@data_dir_option
def keys_revoke(key_id: str, data_dir: Path | None) -> None:
    """Revoke the API key KEY_ID; the running ledger refuses it at once."""
    settings = load_settings(data_dir=data_dir)
    if not ApiKeys(settings.data_dir).revoke(key_id):
        raise click.BadParameter(f"no API key {key_id}", param_hint="KEY_ID")
    console.print(f"revoked {key_id}")
