"""``agentledger verify``: check the raw events' hash chains and the signed digests."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from agentledger.cli_common import console, data_dir_option, json_option, print_json
from agentledger.client import analyst_store
from agentledger.stack_state import read_state
from kernel.config import load_settings
from kernel.errors import StackError
from ledger.factory import embedded_path, open_store
from ledger.store import LedgerStore
from processors.evidence import EVIDENCE_KEYS_FILE, published_keys
from processors.verify import VerifyReport
from processors.verify import verify as verify_ledger


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone (e.g. 2026-12-03T08:00:00Z)")
    return when.astimezone(UTC)


def _store(data_dir: Path | None, clickhouse: str | None) -> LedgerStore:
    """The ledger to check: the server given, the running ledger (read as the analyst), or
    the embedded ledger opened here when none runs."""
    settings = load_settings(data_dir=data_dir, clickhouse_url=clickhouse)
    if settings.clickhouse_url:
        return open_store(settings)
    info = read_state(settings.data_dir)
    if info is not None:
        return analyst_store(settings, info)
    if not embedded_path(settings).is_dir():
        raise StackError(f"no ledger at {settings.data_dir.resolve()}")
    return open_store(settings)


@click.command()
@click.option(
    "--since",
    callback=_since,
    help="Check from the last digest signed before this time on (ISO 8601, with its zone).",
)
@click.option(
    "--public-keys",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The JWKS to check digests with [default: DATA_DIR/evidence_keys.json]. A copy "
    "kept away from the ledger's host guards against a key replaced with the digests.",
)
@click.option("--clickhouse", help="Check a ClickHouse server's ledger instead.")
@data_dir_option
@json_option
def verify(
    since: datetime | None,
    public_keys: Path | None,
    clickhouse: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Check that no raw event was edited, deleted, inserted or reordered: each stream's
    hash chain, then its signed digests. Exits 1 naming the first record that does not
    hold, with its stream, position, event id and what was done to it."""
    settings = load_settings(data_dir=data_dir, clickhouse_url=clickhouse)
    keys = published_keys(
        public_keys or (settings.evidence_dir or settings.data_dir) / EVIDENCE_KEYS_FILE
    )
    with _store(data_dir, clickhouse) as store:
        report = verify_ledger(store, keys, since)
    if as_json:
        print_json(report.as_json())
    else:
        _print(report)
    if not report.ok:
        sys.exit(1)


def _print(report: VerifyReport) -> None:
    for check in report.streams:
        state = "ok" if check.problem is None else "DOES NOT VERIFY"
        console.print(
            f"{check.stream}: {check.records} records from position {check.first_position}, "
            f"{check.digests} digests (to position {check.digested_to}), "
            f"{check.undigested} newer than the last digest: {state}",
            highlight=False,
        )
        for refused in check.refused:
            console.print(
                f"  position {refused['position']}: event {refused['event_id']} was refused by "
                f"the ledger; its dead letter {refused['dead_letter_id']} holds it "
                f"({refused['reason'][:120]})",
                highlight=False,
            )
    if report.before_evidence:
        console.print(
            f"{report.before_evidence} records were stored before tamper evidence began: "
            "not covered",
            highlight=False,
        )
    if report.ok:
        console.print(f"verified {len(report.streams)} streams", highlight=False)
        return
    console.print(f"[bold red]first:[/] {report.problems[0].describe()}", highlight=False)
    for problem in report.problems[1:]:
        console.print(f"also: {problem.describe()}", highlight=False)
