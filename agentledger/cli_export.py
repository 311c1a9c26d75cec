"""``agentledger export``: the ledger's actions as OCSF events, one JSON object a line."""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson

from agentledger.cli_common import data_dir_option, err_console
from kernel.errors import LedgerError
from ledger.store import LedgerStore


def _utc_time(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An ISO 8601 time as ``DateTime64(6, 'UTC')`` text; without an offset it is UTC."""
    from agentledger.ocsf import parse_utc

    if value is None:
        return None
    try:
        moment = parse_utc(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time (example: 2026-12-01T00:00:00Z)"
        ) from exc
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@click.command()
@click.option(
    "--ocsf",
    "as_ocsf",
    is_flag=True,
    help="Write OCSF 1.8.0 events: API Activity (6003) for actions, Authentication (3002) "
    "for identity-provider sign-ins and token grants.",
)
@click.option(
    "--since", callback=_utc_time, help="Earliest event time (ISO 8601; UTC unless an offset)."
)
@click.option(
    "--until", callback=_utc_time, help="Event times before this (ISO 8601; UTC unless an offset)."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output.",
)
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
def export(
    as_ocsf: bool,
    since: str | None,
    until: str | None,
    output: Path | None,
    data_dir: Path | None,
    clickhouse: str | None,
) -> None:
    """Export the ledger's actions, oldest first, as JSON Lines for a SIEM or a data lake."""
    from agentledger.client import ledger_reader

    if not as_ocsf:  # the only format yet; the flag keeps room for others
        raise click.UsageError("name the format: --ocsf")
    if since and until and since >= until:
        raise click.BadParameter("--since must be before --until", param_hint="--since")
    _parse_without_fingerprints()
    counts: Counter[str] = Counter()
    with ledger_reader(data_dir, clickhouse) as store, _opened(output) as sink:
        for line in ocsf_lines(store, since=since, until=until, counts=counts):
            sink.write(line)
    where = f" to {output}" if output else ""
    err_console.print(
        f"exported {sum(counts.values())} OCSF events{where}: "
        f"{counts['API Activity']} API Activity, {counts['Authentication']} Authentication",
        highlight=False,
    )


def ocsf_lines(
    store: LedgerStore,
    *,
    since: str | None = None,
    until: str | None = None,
    counts: Counter[str] | None = None,
) -> Iterator[bytes]:
    """One OCSF event a line for every action of the range, oldest first."""
    from agentledger.ocsf import ocsf_event
    from ledger.export import exported_actions

    for page in exported_actions(store, since=since, until=until):
        for item in page:
            event = ocsf_event(item.action, _attributes(item.raw), item.credential, item.session)
            if counts is not None:
                counts[event["class_name"]] += 1
            yield orjson.dumps(event) + b"\n"


def _attributes(raw: dict[str, Any] | None) -> dict[str, str]:
    """What the source's parser reads from the stored record again (``ip``, ``user_agent``,
    ``model``, ``jti``…): the ledger keeps the record, not every field of its event."""
    from ingest.registry import get_source

    if raw is None:
        return {}
    try:
        record = orjson.loads(raw["raw"])
        events = get_source(raw["source"]).parse(record, position=raw["position"], raw=raw["raw"])
    except (LedgerError, orjson.JSONDecodeError):
        return {}  # a record this version no longer parses: the ledger's own columns stand
    event = next((e for e in events if e.event_id == raw["event_id"]), None)
    return dict(event.attributes) if event is not None else {}


def _parse_without_fingerprints() -> None:
    """Parsers fingerprint any token a record presents; a stored record's tokens are already
    fingerprints, and nothing the export writes comes from a new one, so a process with no
    key yet gets a throwaway one rather than the deployment's (which an analyst need not
    hold)."""
    from kernel.tokens import key_generation, use_fingerprint_key

    if key_generation() == 0:
        use_fingerprint_key(secrets.token_bytes(32))


@contextlib.contextmanager
def _opened(output: Path | None) -> Iterator[IO[bytes]]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as sink:
        yield sink
