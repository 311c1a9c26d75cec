"""``agentledger native``: the hot path compiled to C (``kernel.native``)."""

from __future__ import annotations

import time

import click

from agentledger.cli_common import console, err_console, json_option, print_json
from kernel import native


@click.group("native")
def native_group() -> None:
    """The hot path compiled to C: build it, or say whether this process runs it."""


@native_group.command("build")
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="C compilers at once (all cores)."
)
@json_option
def native_build(jobs: int | None, as_json: bool) -> None:
    """Compile the hot path for the current sources (a few minutes; nothing if already built).

    Needs mypy and setuptools (`pip install 'agentledger[native]'`) and a C compiler. The
    build goes to a cache named by a hash of the sources: an edited source is served as plain
    Python until the next build.
    """
    key = native.source_key()
    built = native.existing_build(key)
    started = time.monotonic()
    if built is None and not as_json:
        err_console.print(
            f"compiling {len(native.HOT_PATH)} modules of the hot path (about two minutes on "
            "two cores)…"
        )
    try:
        path = built or native.build(jobs=jobs)
    except native.BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    figures = {
        "key": key,
        "path": str(path),
        "modules": len(native.HOT_PATH),
        "built_now": built is None,
        "seconds": round(time.monotonic() - started, 1),
    }
    if as_json:
        print_json(figures)
        return
    verb = "built" if built is None else "already built"
    console.print(f"{verb}: {path} ({figures['seconds']} s)")


@native_group.command("status")
@click.option("--check", is_flag=True, help="Exit 1 unless the compiled modules are served.")
@json_option
def native_status(check: bool, as_json: bool) -> None:
    """Whether this process runs the compiled hot path, and if not, why."""
    status = native.STATUS
    if as_json:
        print_json(status.as_dict())
    elif status.active:
        console.print(f"compiled: {len(status.modules)} modules from {status.path}")
    else:
        console.print(f"plain Python: {status.reason}")
    if check and not status.active:
        raise SystemExit(1)
