"""Inputs as ``agentledger ingest`` reads them: files, directories or stdin, plain or gzip,
framed record by record.

What is read, and in which order:

- ``-`` is stdin; a file is read as it is named; a directory is walked recursively.
- Any input may be gzip (told by its first bytes ``1f 8b``, whatever its name; several
  concatenated members are one stream). Everything is streamed: one file at a time, in
  chunks, so a directory of any size never sits in memory (a file that is one JSON document,
  such as a CloudTrail delivery, is held whole while it is framed, one file at a time).
- A walk skips hidden entries (a name starting with ``.``: ``.git``, ``.DS_Store``, a sync
  tool's partial downloads), CloudTrail digest files (``CloudTrail-Digest``: hash chains of
  the log files, not events), and files whose name says they are no log (``_NOT_LOGS``,
  ``_NOT_LOG_NAMES``, also under ``.gz``). A file named on the command line is always read.
- The files of a walk are read in time order, oldest first: by the delivery time in the name
  of a CloudTrail S3 object (``<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<id>.json.gz``),
  else by a UTC timestamp or date in the name (``2024-08-01T12:00Z``, ``20240801T1200Z``,
  ``2024-08-01``), else by the file's modification time; equal times by path. Inputs named on
  the command line are read in the order given, each directory's files in that order.
- Positions name the file as reached from the argument (``AWSLogs/123/…/x.json.gz:1[4]``)
  and the line and record inside it, as for a plain file.

A file that cannot be read to its end (a corrupt or truncated gzip, an I/O error) keeps
everything read before the break: each complete line before it is ingested as usual, and
the break itself goes to the dead letters with the file, the line it happened at, the reason
and the unfinished text (masked, cut at ``_TAIL_LIMIT``); the next files go on. A path that
does not exist, or a directory with no log file in it, fails before anything is sent.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ingest.base import Source
from ingest.framing import Framed, Unframed, frame_lines, mask_text
from kernel.errors import LedgerError, RecordError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read (and, for gzip, decompressed) at a time
_TAIL_LIMIT = 64 * 1024  # characters of an unfinished record kept in its dead letter

_NOT_LOGS = frozenset(
    {
        ".md", ".rst", ".pdf", ".html", ".htm", ".css", ".png", ".jpg", ".jpeg", ".gif",
        ".svg", ".ico", ".zip", ".tar", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".parquet",
        ".avro", ".orc", ".csv", ".tsv", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".py",
        ".sh", ".sha256", ".md5", ".sig", ".asc", ".tmp", ".part", ".partial", ".lock",
        ".pid", ".swp",
    }
)  # fmt: skip
_NOT_LOG_NAMES = frozenset({"readme", "license", "licence", "notice", "copying", "changelog"})
_CLOUDTRAIL_NAME = re.compile(
    r"^\d{12}_CloudTrail(?:-Insight)?_[a-z0-9-]+_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json(?:\.gz)?$"
)
_NAME_STAMP = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[T_](\d{2})[:-]?(\d{2})(?:[:-]?(\d{2}))?Z?)?(?!\d)"
)


class IngestPathError(LedgerError):
    """A path given to ``ingest`` cannot be read: missing, not a file, or an empty directory."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input: where to read it, the name its positions carry, and its size on disk."""

    path: Path | None  # None: stdin
    name: str
    size: int | None  # bytes on disk; None for stdin


class IngestProgress(Protocol):
    """What a progress display is told while inputs are read."""

    def file_started(self, item: InputFile) -> None: ...

    def bytes_read(self, count: int) -> None: ...

    def records_sent(self, count: int) -> None: ...


# -- which files, in which order ---------------------------------------------------------------


def is_log_name(relative: str) -> bool:
    """Whether a walk reads the file at ``relative`` (a path inside the walked directory)."""
    parts = relative.replace("\\", "/").split("/")
    if any(part.startswith(".") or part == "CloudTrail-Digest" for part in parts):
        return False
    name = parts[-1].lower()
    if "_cloudtrail-digest_" in name:
        return False
    inner = name.removesuffix(".gz")
    stem, dot, suffix = inner.rpartition(".")
    if dot and f".{suffix}" in _NOT_LOGS:
        return False
    return (stem if dot else inner) not in _NOT_LOG_NAMES


def name_time(name: str) -> datetime | None:
    """The UTC time a file's name says it covers: a CloudTrail S3 object's delivery time,
    else the first valid timestamp or date in the name; ``None`` when it says none."""
    found = _CLOUDTRAIL_NAME.match(name)
    if found:
        return datetime.strptime(found.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    for stamp in _NAME_STAMP.finditer(name):
        year, month, day, hour, minute, second = (int(v) if v else 0 for v in stamp.groups())
        if not 1970 <= year <= 2299:
            continue
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:  # 20241399 is no date
            continue
    return None


def time_order(files: Iterable[tuple[str, float]]) -> list[str]:
    """Relative paths of ``(relative path, mtime)`` pairs, oldest first (see the module doc)."""

    def key(entry: tuple[str, float]) -> tuple[datetime, str]:
        relative, mtime = entry
        when = name_time(relative.replace("\\", "/").rsplit("/", 1)[-1])
        return (when or datetime.fromtimestamp(mtime, UTC), relative)

    return [relative for relative, _ in sorted(files, key=key)]


def _walk(directory: Path, shown: str) -> list[InputFile]:
    found: list[tuple[str, float]] = []
    sizes: dict[str, int] = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            full = Path(root, name)
            relative = full.relative_to(directory).as_posix()
            if not is_log_name(relative) or not full.is_file():
                continue
            stat = full.stat()
            found.append((relative, stat.st_mtime))
            sizes[relative] = stat.st_size
    return [
        InputFile(directory / relative, f"{shown.rstrip('/')}/{relative}", sizes[relative])
        for relative in time_order(found)
    ]


def collect_inputs(paths: Iterable[str]) -> list[InputFile]:
    """The files to read, in order; ``IngestPathError`` names every path that cannot be."""
    inputs: list[InputFile] = []
    problems: list[str] = []
    for given in paths:
        if given == STDIN:
            inputs.append(InputFile(None, "stdin", None))
            continue
        path = Path(given)
        if path.is_dir():
            walked = _walk(path, given)
            if not walked:
                problems.append(f"no log files under {given} (hidden and non-log files skipped)")
            inputs += walked
        elif path.is_file():
            inputs.append(InputFile(path, given, path.stat().st_size))
        elif path.exists():
            problems.append(f"not a file or directory: {given}")
        else:
            problems.append(f"no such file or directory: {given}")
    if problems:
        raise IngestPathError("; ".join(problems))
    return inputs


# -- reading one input -------------------------------------------------------------------------


class _Rewound(io.RawIOBase):
    """``head`` (already read to sniff the format) followed by the rest of ``rest``,
    reporting the bytes it hands out (the compressed bytes, for a gzip reader)."""

    def __init__(self, head: bytes, rest: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        super().__init__()
        self._head = head
        self._rest = rest
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            data, self._head = self._head[: len(view)], self._head[len(view) :]
        else:
            data = self._rest.read(len(view))
        view[: len(data)] = data
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        return len(data)


class LineReader:
    """Text lines of a byte stream, gunzipped when it starts with the gzip magic.

    Lines keep their ``\\n``; ``\\r\\n`` reads as ``\\n`` (lines end at ``\\n``). When the
    stream breaks (corrupt gzip, I/O error), iteration ends: ``error`` says why, ``line`` is
    the number of the line it broke in and ``tail`` holds that line's text read so far.
    """

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None] | None = None) -> None:
        self._stream = stream
        self._on_bytes = on_bytes
        self.compressed = False
        self.error: str | None = None
        self.line = 1
        self.tail = ""

    def _chunks(self) -> Iterator[bytes]:
        head = self._stream.read(len(GZIP_MAGIC))
        reader: io.BufferedIOBase = io.BufferedReader(
            _Rewound(head, self._stream, self._on_bytes), _CHUNK
        )
        if head == GZIP_MAGIC:
            self.compressed = True
            # read(n) bounds what a decompression bomb can expand to at a time.
            reader = gzip.GzipFile(fileobj=reader, mode="rb")
        with reader:
            while chunk := reader.read1(_CHUNK):
                yield chunk

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            for chunk in self._chunks():
                # A "\r" that ends a chunk meets its "\n" here, before the replace.
                lines = (pending + decoder.decode(chunk)).replace("\r\n", "\n").split("\n")
                pending = lines.pop()
                for line in lines:
                    yield line + "\n"
                    self.line += 1
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            kind = "gzip" if self.compressed else "file"
            self.error = f"unreadable {kind}: {exc}"
            self.tail = pending
            return
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending


def frame_stream(
    source: Source,
    stream: BinaryIO,
    name: str,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Framed | Unframed]:
    """Records of one input (plain or gzip bytes); a break in it ends as one dead letter."""
    lines = LineReader(stream, on_bytes)
    yield from frame_lines(source, lines, name)
    if lines.error is not None:
        error = RecordError(lines.error, source=source.name, position=f"{name}:{lines.line}")
        yield Unframed(error, mask_text(lines.tail)[:_TAIL_LIMIT])


def frame_input(
    source: Source, item: InputFile, progress: IngestProgress | None
) -> Iterator[Framed | Unframed]:
    """The records of one input, telling ``progress`` of the file and its bytes."""
    if progress is not None:
        progress.file_started(item)
    on_bytes = progress.bytes_read if progress is not None else None
    if item.path is None:
        yield from frame_stream(source, sys.stdin.buffer, item.name, on_bytes)
        return
    try:
        handle = item.path.open("rb")
    except OSError as exc:
        reason = f"unreadable file: {exc.strerror or exc}"
        yield Unframed(RecordError(reason, source=source.name, position=item.name), "")
        return
    with handle:
        yield from frame_stream(source, handle, item.name, on_bytes)
