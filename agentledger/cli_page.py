"""``agentledger page``: where the running ledger serves the chain page, for a browser."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from urllib.parse import quote

import click

from agentledger.cli_common import console, data_dir_option, err_console, json_option, print_json
from agentledger.stack_state import require_state
from kernel.config import load_settings


@click.command()
@click.argument("session_id", required=False)
@click.option("--open", "open_it", is_flag=True, help="Open it in this machine's browser.")
@data_dir_option
@json_option
def page(session_id: str | None, open_it: bool, data_dir: Path | None, as_json: bool) -> None:
    """The chain page's address on the running ledger: the list of sessions, or SESSION_ID's
    timeline. Sign in there with a key that has the analyst role (`agentledger keys create
    --name NAME --role analyst`); the key is posted once, never put in the address."""
    settings = load_settings(data_dir=data_dir)
    info = require_state(settings.data_dir)
    url = f"{info.http_url}/ui/sessions"
    if session_id:
        url += "/" + quote(session_id, safe="")
    if as_json:
        print_json({"url": url, "sign_in": f"{info.http_url}/ui/sign-in"})
    else:
        console.print(url, soft_wrap=True, highlight=False)
        err_console.print(
            "Sign in with an analyst key: agentledger keys create --name NAME --role analyst"
        )
    if open_it and not webbrowser.open(url):
        err_console.print("no browser could be opened here; open the address above")
