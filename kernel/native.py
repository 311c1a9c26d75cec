"""The hot path compiled: the per-event modules built as C extensions (mypyc), served only
while they match the sources.

``agentledger native build`` compiles the modules of ``HOT_PATH`` as one group into a cache
directory named by a hash of every source they could depend on (each ``.py`` of the kernel,
ingest, ledger, models and processors packages, with the Python ABI). Each of those packages
imports the kernel first from its ``__init__``, and the kernel's ``__init__`` calls
``install()``: before any hot module loads, it looks for the build of the *current* sources
and, if there is one, puts a finder first on ``sys.meta_path`` that loads the compiled
modules instead of the ``.py`` files. An edited source changes the hash: the old build no
longer matches and the plain modules run, until the next build. Nothing is ever built beside
the sources.

The group is served whole or not at all: compiled modules call each other natively, so a
compiled module beside a plain copy of another would hold two versions of its classes.
``AGENTLEDGER_NATIVE=0`` turns it off; ``AGENTLEDGER_NATIVE_DIR`` moves the cache
(default ``$XDG_CACHE_HOME/agentledger/native``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.errors import LedgerError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

# Every process imports this module first, so it imports little; the build's tools are
# imported by ``build`` alone.
# The modules each event passes through, compiled together (``GROUP`` names the shared
# library mypyc puts their code in).
HOT_PATH: tuple[str, ...] = (
    # the event model, its Avro wire format, and what every layer reads of an event
    "kernel.events",
    "kernel.envelope",
    "kernel.codec",
    "kernel.avro_read",
    "kernel.avro_write",
    "kernel.access",
    "kernel.vocabulary",
    "kernel.contraction",
    "kernel.verdicts",
    "kernel.scores",
    "kernel.evidence",
    "kernel.tokens",
    # ingest: framing, parsing and redacting each source's records
    "ingest.base",
    "ingest.fields",
    "ingest.framing",
    "ingest.pipeline",
    "ingest.redact",
    "ingest.mcp",
    "ingest.okta",
    "ingest.cloudtrail",
    "ingest.entra",
    "ingest.github",
    "ingest.envoy",
    "ingest.otel",
    "ingest.otlp",
    # the ledger's rows
    "ledger.rows",
    "ledger.drift_rows",
    # drift scoring
    "models.text",
    "models.values",
    "models.features",
    "models.session",
    "models.tools",
    "models.scorer",
    "models.calls",
    "models.asks",
    "models.instructions",
    "models.quantities",
    "models.naming",
    "models.statements",
    "models.reach",
    "models.trail",
    "models.rules",
    "models.baseline",
    # stitching and scoring
    "processors.stitch",
    "processors.linking",
    "processors.sessions",
    "processors.labels",
    "processors.attribution",
    "processors.pairing",
    "processors.scoring",
    "processors.scored_events",
    "processors.evidence",
    "processors.rpc_state",
    "processors.federation",
    "processors.relabel",
    "processors.declare",
)
# Not in it: kernel.policy and kernel.declaration (pydantic models, which mypyc's
# one-file-a-module mode does not build), processors.ownership (subclasses a builtin type),
# ingest.normalizer (a nested class), and everything that runs once a batch or less.
GROUP = "agentledger_native"
# Every source a hot module can import from (the layers at and below processors): the hash
# covers all of them, since compiled code is built against their types.
_HASHED_PACKAGES = ("kernel", "ingest", "ledger", "models", "processors")
_MANIFEST = "manifest.json"
_KEEP_BUILDS = 3


def source_root() -> Path:
    """The directory holding the project's packages (the clone, or site-packages)."""
    return Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    override = os.environ.get("AGENTLEDGER_NATIVE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentledger" / "native"


def source_key(root: Path | None = None) -> str:
    """A hash of the sources, the module list and the interpreter's ABI."""
    root = root or source_root()
    digest = hashlib.sha256()
    abi = importlib.machinery.EXTENSION_SUFFIXES[0]
    digest.update(f"{abi}\n{GROUP}\n{','.join(HOT_PATH)}\n".encode())
    for package in _HASHED_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.name == "native.py" and path.parent.name == "kernel":
                continue  # the loader itself: its HOT_PATH and GROUP are hashed above
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:20]


class Status:
    """What ``install()`` found: ``active`` when the compiled modules are served."""

    def __init__(self, reason: str = "not looked for yet", key: str = "") -> None:
        self.active = False
        self.reason = reason
        self.key = key
        self.path = ""
        self.modules: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "reason": self.reason,
            "key": self.key,
            "path": self.path,
            "modules": list(self.modules),
        }


STATUS = Status()
_looked = False


class Finder:
    """A ``sys.meta_path`` finder that loads each module of the group from its extension."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        so = self.files.get(fullname)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(so))
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


def _extension(directory: Path, module: str) -> Path | None:
    base = directory.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def existing_build(key: str, cache: Path | None = None) -> Path | None:
    """The directory of a complete build of ``key``, if there is one."""
    directory = (cache or cache_dir()) / key
    return directory if (directory / _MANIFEST).is_file() else None


def find_build(
    key: str, cache: Path, modules: Sequence[str] = HOT_PATH
) -> tuple[Status, dict[str, Path]]:
    """The build of ``key`` in ``cache``: its status, and each module's extension file (the
    group's shared library too); no files when there is no complete build."""
    status = Status(key=key)
    directory = existing_build(key, cache)
    if directory is None:
        status.reason = "no build of these sources (agentledger native build)"
        return status, {}
    files: dict[str, Path] = {}
    for module in (f"{GROUP}__mypyc", *modules):
        found = _extension(directory, module)
        if found is None:
            status.reason = f"build incomplete: no extension for {module} in {directory}"
            return status, {}
        files[module] = found
    status.active = True
    status.reason = "compiled modules served"
    status.path = str(directory)
    status.modules = list(modules)
    return status, files


def turned_off() -> bool:
    return os.environ.get("AGENTLEDGER_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def install() -> Status:
    """Serve the compiled group if a build of the current sources exists (looked for once a
    process, before any module of the group is imported)."""
    global STATUS, _looked
    if _looked:
        return STATUS
    _looked = True
    if turned_off():
        STATUS = Status("turned off (AGENTLEDGER_NATIVE=0)")
        return STATUS
    loaded = [name for name in HOT_PATH if name in sys.modules]
    if loaded:  # imported before the finder could be placed: serving the rest would mix
        STATUS = Status(f"not served: {loaded[0]} was imported before the finder")
        return STATUS
    try:
        key = source_key()
    except OSError as exc:
        STATUS = Status(f"sources unreadable: {exc}")
        return STATUS
    STATUS, files = find_build(key, cache_dir())
    if files:
        sys.meta_path.insert(0, Finder(files))
    return STATUS


class BuildError(LedgerError):
    """The hot path could not be compiled; the message says what is missing or wrong."""


def build(*, jobs: int | None = None) -> Path:
    """Compile the group for the current sources into the cache; the build's directory.

    Needs mypy (whose ``mypyc`` does the compiling), setuptools and a C compiler. Builds in a
    temporary directory and moves the result into place whole, so a reader never sees half
    a build; an existing build of the same sources is kept as it is.
    """
    import json
    import shutil
    import tempfile
    import time

    root = source_root()
    key = source_key(root)
    final = cache_dir() / key
    if existing_build(key) is not None:
        return final
    try:
        from mypyc.build import mypycify
        from setuptools import Distribution
        from setuptools.command.build_ext import build_ext
    except ImportError as exc:
        raise BuildError(
            f"compiling the hot path needs mypy and setuptools ({exc}): "
            "pip install 'agentledger[native]'"
        ) from exc
    compiler = os.environ.get("CC", "cc").split()[0]
    if shutil.which(compiler) is None:
        raise BuildError(f"compiling the hot path needs a C compiler: {compiler} is not on PATH")
    final.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{key}.", dir=final.parent) as scratch:
        work = Path(scratch)
        out = work / "out"
        paths = [str(root.joinpath(*m.split("."))) + ".py" for m in HOT_PATH]
        cwd = Path.cwd()
        os.chdir(root)  # mypy reads the project's [tool.mypy] settings from here
        log = final.parent / "last-build.log"
        try:
            with _output_to(log):  # mypyc's notes and the C compiler's lines: the log keeps them
                extensions = mypycify(
                    paths,
                    opt_level="3",
                    multi_file=True,  # one C file a module: compiled in parallel
                    group_name=GROUP,
                    target_dir=str(work / "c"),
                )
                command = build_ext(Distribution({"name": GROUP, "ext_modules": extensions}))
                command.build_lib = str(out)
                command.build_temp = str(work / "tmp")
                command.parallel = jobs or os.cpu_count() or 1
                command.ensure_finalized()
                command.run()
        except SystemExit as exc:  # mypyc exits when the sources do not type-check
            raise BuildError(
                f"mypyc refused the sources:\n{_tail(log)}\n(all of it: {log})"
            ) from exc
        except Exception as exc:  # the C compiler's errors: setuptools' own classes
            raise BuildError(
                f"compiling the hot path failed: {exc}\n{_tail(log)}\n(all of it: {log})"
            ) from exc
        finally:
            os.chdir(cwd)
        manifest = {
            "key": key,
            "group": GROUP,
            "modules": list(HOT_PATH),
            "python": sys.version.split()[0],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (out / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            out.rename(final)
        except OSError:  # built at the same time by another process: theirs is as good
            if existing_build(key) is None:
                raise
    _prune(final.parent, keep=final)
    return final


class _output_to:  # a context manager, named as the function it reads like
    """Sends this process's standard output and error (file descriptors 1 and 2, which the
    C compiler's subprocesses inherit too) to ``path`` while open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: list[int] = []

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, target)
            os.close(saved)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _prune(parent: Path, *, keep: Path) -> None:
    """Remove all builds but ``keep`` and the newest others (each edit of the sources
    leaves one behind; other clones share the cache)."""
    import shutil

    others = sorted(
        (p for p in parent.iterdir() if p != keep and p.is_dir() and (p / _MANIFEST).is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in others[_KEEP_BUILDS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
