"""``agentledger gateway``: the MCP gateway (``enforce.gateway``) in front of one MCP server."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from pathlib import Path

import click

from agentledger.cli_common import console, data_dir_option, err_console
from kernel.config import load_settings
from kernel.topics import Topics
from models import load_scorer


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as host and port."""
    host, colon, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT (example: 127.0.0.1:8930)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option(
    "--listen",
    default="127.0.0.1:8930",
    show_default=True,
    metavar="HOST:PORT",
    help="Where agents connect (Streamable HTTP at /mcp). Loopback unless told otherwise.",
)
@click.option(
    "--upstream", metavar="URL", help="The MCP server behind the gateway (Streamable HTTP)."
)
@click.option(
    "--upstream-cmd",
    metavar='"COMMAND"',
    help="The MCP server behind the gateway, as a command to run (stdio), one per connection.",
)
@click.option("--inline", is_flag=True, help="Score each tools/call first; refuse drifting calls.")
@click.option("--server-name", help="The server's name in the records [default: URL or command].")
@data_dir_option
@click.option("--kafka", help="Record to and read contractions from this Kafka cluster.")
def gateway(
    listen: str,
    upstream: str | None,
    upstream_cmd: str | None,
    inline: bool,
    server_name: str | None,
    data_dir: Path | None,
    kafka: str | None,
) -> None:
    """Proxy MCP between agents and one server: record every message into the ledger,
    apply its contractions live (hide and refuse removed tools, refuse every call after
    halt or revoke), and with --inline refuse drifting calls before they run."""
    from agentledger.client import use_fingerprint_key
    from agentledger.stack_state import require_state
    from enforce.gateway import Gateway
    from enforce.gateway_upstream import UpstreamSpec

    host, port = parse_listen(listen)
    spec = UpstreamSpec.parse(upstream, upstream_cmd)
    settings = load_settings(data_dir=data_dir, kafka=kafka)
    if settings.kafka:
        bootstrap, topics = settings.kafka, Topics(settings.topic_prefix)
    else:
        info = require_state(settings.data_dir)
        bootstrap, topics = info.bootstrap, Topics(info.topic_prefix)
    use_fingerprint_key(settings)  # the token stands in the records as the ledger's own key has it
    # The deployment's own model (`agentledger model train`), else the shipped default.
    scorer = load_scorer(data_dir=settings.data_dir) if inline else None
    proxy = Gateway(
        spec,
        bootstrap=bootstrap,
        topics=topics,
        settings=settings,
        server_name=server_name,
        scorer=scorer,
        partitions=settings.partitions,
    )
    if not is_loopback(host):
        err_console.print(f"[yellow]warning:[/] listening beyond loopback, on {host}")

    def ready() -> None:
        console.print(f"[bold green]gateway up[/] at http://{listen}/mcp → {spec.name}")
        console.print(
            f"  recording to {topics.raw('mcp')}, contractions from {topics.contractions}"
        )
        if scorer is not None:
            console.print(f"  inline scoring with model {scorer.version}")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await proxy.run(host, port, stop, ready)

    asyncio.run(run())
