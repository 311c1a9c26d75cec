"""The compiled hot path is served only for the sources it was built from, whole or not at all."""

from __future__ import annotations

import importlib.machinery
import json
import os
from pathlib import Path

import pytest

from kernel import native

_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _sources(root: Path) -> Path:
    for package in ("kernel", "ingest", "ledger", "models", "processors", "agentledger"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""{package}"""\n')
    (root / "processors" / "stitch.py").write_text("def stitch() -> int:\n    return 1\n")
    return root


def _fake_build(cache: Path, key: str, modules: list[str], *, manifest: bool = True) -> Path:
    directory = cache / key
    for module in (f"{native.GROUP}__mypyc", *modules):
        path = directory.joinpath(*module.split("."))
        path = path.with_name(path.name + _SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    if manifest:
        (directory / "manifest.json").write_text(json.dumps({"key": key}))
    return directory


def test_the_key_changes_with_any_source_the_compiled_code_can_depend_on(tmp_path: Path) -> None:
    root = _sources(tmp_path / "src")
    first = native.source_key(root)
    assert native.source_key(root) == first
    (root / "processors" / "stitch.py").write_text("def stitch() -> int:\n    return 2\n")
    edited = native.source_key(root)
    (root / "ledger" / "store.py").write_text("X = 1\n")  # a new module below processors
    added = native.source_key(root)
    assert len({first, edited, added}) == 3


def test_the_key_ignores_the_application_layer_above_the_hot_path(tmp_path: Path) -> None:
    root = _sources(tmp_path / "src")
    before = native.source_key(root)
    (root / "agentledger" / "cli.py").write_text("print('hello')\n")
    assert native.source_key(root) == before


def test_no_build_of_these_sources_serves_nothing_and_says_how_to_build(tmp_path: Path) -> None:
    _fake_build(tmp_path, "otherkey", ["processors.stitch"])
    status, files = native.find_build("thiskey", tmp_path, ["processors.stitch"])
    assert (status.active, files) == (False, {})
    assert "agentledger native build" in status.reason
    assert status.key == "thiskey"


def test_a_build_without_its_manifest_is_not_served(tmp_path: Path) -> None:
    # A build is moved into place with its manifest last: without one it is unfinished.
    _fake_build(tmp_path, "k", ["processors.stitch"], manifest=False)
    status, files = native.find_build("k", tmp_path, ["processors.stitch"])
    assert (status.active, files) == (False, {})


def test_a_build_missing_one_module_serves_none_of_them(tmp_path: Path) -> None:
    _fake_build(tmp_path, "k", ["processors.stitch"])
    status, files = native.find_build("k", tmp_path, ["processors.stitch", "ledger.rows"])
    assert (status.active, files) == (False, {})
    assert "ledger.rows" in status.reason


def test_a_complete_build_maps_every_module_and_the_shared_library(tmp_path: Path) -> None:
    directory = _fake_build(tmp_path, "k", ["processors.stitch", "ledger.rows"])
    status, files = native.find_build("k", tmp_path, ["processors.stitch", "ledger.rows"])
    assert status.active
    assert status.modules == ["processors.stitch", "ledger.rows"]
    assert files == {
        f"{native.GROUP}__mypyc": directory / f"{native.GROUP}__mypyc{_SUFFIX}",
        "processors.stitch": directory / "processors" / f"stitch{_SUFFIX}",
        "ledger.rows": directory / "ledger" / f"rows{_SUFFIX}",
    }


def test_the_finder_loads_its_modules_as_extensions_and_leaves_the_rest(tmp_path: Path) -> None:
    so = tmp_path / f"stitch{_SUFFIX}"
    finder = native.Finder({"processors.stitch": so})
    spec = finder.find_spec("processors.stitch", None)
    assert spec is not None
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    assert spec.origin == str(so)
    assert finder.find_spec("processors.worker", None) is None


@pytest.mark.parametrize(
    ("value", "off"), [("0", True), ("off", True), (" False ", True), ("1", False), ("", False)]
)
def test_agentledger_native_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, value: str, off: bool
) -> None:
    monkeypatch.setenv("AGENTLEDGER_NATIVE", value)
    assert native.turned_off() is off


def test_only_the_newest_builds_are_kept(tmp_path: Path) -> None:
    for n in range(5):
        directory = _fake_build(tmp_path, f"k{n}", [])
        os.utime(directory, (1_000_000 + n, 1_000_000 + n))
    half_done = tmp_path / ".k9.tmp"  # another build in progress is not touched
    half_done.mkdir()
    native._prune(tmp_path, keep=tmp_path / "k0")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".k9.tmp", "k0", "k3", "k4"]
