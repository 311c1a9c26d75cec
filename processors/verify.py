"""Check the ledger's tamper evidence: every stream's hash chain, then its signed digests.

Each stream is read page by page in position order and walked (``processors.chain_walk``
says how the first row that does not hold its place is named: edited, deleted, inserted or
reordered); a raw event the ledger refused is read from its dead letter, which keeps its
place (``ledger.evidence``). Rows in no chain at all, stored after the first chained one, are named
inserted. While the chain holds, each of the stream's digests is checked too: signed with a
published key, naming the one before it, and the Merkle root and last hash of its run of
positions those of the rows there now. That catches what a chain alone cannot: records
changed and the chain computed again after them, or the newest ones deleted.

The check holds a page of rows and one digest's hashes at a time, whatever the ledger's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kernel.events import ch_ts
from kernel.evidence import digest_id, genesis, merkle_root
from ledger import evidence as ledger_evidence
from ledger.store import LedgerStore
from processors.chain_walk import (
    DELETED,
    DIGEST,
    EDITED,
    INSERTED,
    REORDERED,
    ChainWalk,
    Problem,
    Row,
)
from processors.evidence import signature_holds

__all__ = ["DELETED", "EDITED", "INSERTED", "REORDERED", "Problem", "VerifyReport", "verify"]
PAGE_SIZE = 100_000  # rows of a stream read at a time (a few hundred bytes each, held)


@dataclass(slots=True)
class StreamCheck:
    stream: str
    first_position: int = 1
    records: int = 0
    digests: int = 0
    digested_to: int = 0  # the last position a checked digest covers
    problem: Problem | None = None
    # Positions held by a refused raw event's dead letter (``ledger.evidence.refused_links``).
    refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def undigested(self) -> int:
        return max(0, self.first_position + self.records - 1 - self.digested_to)

    def as_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "from_position": self.first_position,
            "records": self.records,
            "digests": self.digests,
            "digested_to": self.digested_to,
            "undigested": self.undigested,
            "refused": self.refused,
            "problem": self.problem.as_json() if self.problem else None,
        }


@dataclass(slots=True)
class VerifyReport:
    streams: list[StreamCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    before_evidence: int = 0  # rows stored before the first chained row (not protected)
    since: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "since": self.since,
            "first_problem": self.problems[0].as_json() if self.problems else None,
            "problems": [p.as_json() for p in self.problems],
            "streams": [s.as_json() for s in self.streams],
            "before_evidence": self.before_evidence,
        }


def verify(
    store: LedgerStore,
    public_keys: Mapping[str, Ed25519PublicKey],
    since: datetime | None = None,
) -> VerifyReport:
    """Check every stream (from the last digest made before ``since``, when given)."""
    report = VerifyReport(since=ch_ts(since) if since else None)
    before, after, inserted = ledger_evidence.unchained(store)
    report.before_evidence = before
    for event_id in inserted:
        report.problems.append(
            Problem("", 0, event_id, INSERTED, "in no stream's chain: not written by a worker")
        )
    if after > len(inserted):
        report.problems.append(
            Problem("", 0, "", INSERTED, f"{after - len(inserted)} more rows in no chain")
        )
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for row in ledger_evidence.digests(store):
        by_stream.setdefault(row["stream"], []).append(row)
    names = sorted(set(ledger_evidence.chained_streams(store)) | set(by_stream))
    for name in names:
        check = _check_stream(store, name, by_stream.get(name, []), public_keys, report.since)
        report.streams.append(check)
        if check.problem is not None:
            report.problems.append(check.problem)
    return report


@dataclass(slots=True)
class _Digest:
    row: dict[str, Any]
    body: dict[str, Any]


def _check_stream(
    store: LedgerStore,
    name: str,
    rows: list[dict[str, Any]],
    keys: Mapping[str, Ed25519PublicKey],
    since: str | None,
) -> StreamCheck:
    check = StreamCheck(name)
    digests: list[_Digest] = []
    for row in rows:
        body, problem = _signed_body(name, row, keys)
        if problem is not None:
            check.problem = problem
            return check
        digests.append(_Digest(row, body))
    # The anchor: the last digest made before ``since``, whose signature vouches for the
    # chain hash the check starts from.
    anchor = None
    if since is not None:
        earlier = [d for d in digests if str(d.body["made_at"]) < since]
        if earlier:
            anchor = earlier[-1]
            digests = digests[digests.index(anchor) + 1 :]
    start = int(anchor.body["last_seq"]) + 1 if anchor else 1
    start_hash = str(anchor.body["head"]) if anchor else genesis(name).hex()
    check.first_position = start
    check.digested_to = start - 1
    check.problem = _digest_links(name, digests, anchor, start, start_hash)
    if check.problem is not None:
        return check
    walk = ChainWalk(name, start_hash, start, _LedgerLookup(store, name))
    digested = _DigestCheck(name, digests)
    for page in ledger_evidence.chained_pages(store, name, start, PAGE_SIZE):
        check.records += len(page)
        for row in page:
            check.problem = walk.step(row) or digested.take(row)
            if check.problem is not None:
                return _counted(check, digested)
            if "dead_letter_id" in row:  # refused by the ledger; its dead letter holds it
                check.refused.append(
                    {
                        "position": int(row["seq"]),
                        "event_id": row["event_id"],
                        "dead_letter_id": row["dead_letter_id"],
                        "reason": row["reason"],
                    }
                )
    check.problem = digested.finish()
    return _counted(check, digested)


def _counted(check: StreamCheck, digested: _DigestCheck) -> StreamCheck:
    check.digests = digested.held
    if digested.last is not None:
        check.digested_to = digested.last
    return check


class _LedgerLookup:
    """Other rows of one stream, from the ledger (``processors.chain_walk.Lookup``)."""

    def __init__(self, store: LedgerStore, stream: str) -> None:
        self.store, self.stream = store, stream

    def with_hash(self, chain_hash: str) -> list[Row]:
        return ledger_evidence.chained_with_hash(self.store, self.stream, chain_hash)

    def successors(self, chain_hash: str) -> int:
        return ledger_evidence.chained_after(self.store, self.stream, chain_hash)

    def between(self, after: Row, before: Row) -> list[Row]:
        return ledger_evidence.chained_between(
            self.store,
            self.stream,
            (int(after["seq"]), str(after["event_id"])),
            (int(before["seq"]), str(before["event_id"])),
            limit=1_000,
        )

    def fitting(self, record: str, event_id: str) -> Row | None:
        return ledger_evidence.chained_fitting(self.store, self.stream, record, event_id)


class _DigestCheck:
    """The stream's digests, in order, against the rows that held their place: each run's
    positions all there, and their Merkle root and last hash the signed ones."""

    def __init__(self, name: str, digests: list[_Digest]) -> None:
        self.name = name
        self.pending = digests[::-1]  # the next digest last
        self.leaves: list[bytes] = []
        self.held = 0  # digests that hold
        self.last: int | None = None  # the last position they cover

    def take(self, row: Row) -> Problem | None:
        if not self.pending:
            return None  # newer than the last digest: the chain alone covers it
        digest = self.pending[-1]
        first, last = int(digest.body["first_seq"]), int(digest.body["last_seq"])
        expected = first + len(self.leaves)
        if int(row["seq"]) != expected:
            return self._missing(digest, expected)
        self.leaves.append(bytes.fromhex(row["hash"]))
        if expected < last:
            return None
        if merkle_root(self.leaves).hex() != digest.body["merkle_root"] or (
            row["hash"] != digest.body["head"]
        ):
            return Problem(
                self.name,
                first,
                "",
                EDITED,
                f"the records at positions {first}..{last} are not those digest "
                f"{digest.row['digest_id']} (made {digest.body['made_at']}) signed: edited, "
                "deleted or reordered, and the chain computed again",
            )
        self.pending.pop()
        self.leaves = []
        self.held += 1
        self.last = last
        return None

    def finish(self) -> Problem | None:
        """After the last row: a digest still waiting names positions the ledger lacks."""
        if not self.pending:
            return None
        digest = self.pending[-1]
        return self._missing(digest, int(digest.body["first_seq"]) + len(self.leaves))

    def _missing(self, digest: _Digest, position: int) -> Problem:
        body = digest.body
        return Problem(
            self.name,
            position,
            "",
            DELETED,
            f"digest {digest.row['digest_id']} (made {body['made_at']}) covers positions "
            f"{body['first_seq']}..{body['last_seq']}; the ledger has nothing at {position}",
        )


def _signed_body(
    name: str, row: dict[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> tuple[dict[str, Any], Problem | None]:
    """The digest's signed body, or why it cannot be trusted."""
    first = int(row["first_seq"])
    text = str(row["body"]).encode()

    def bad(detail: str) -> tuple[dict[str, Any], Problem]:
        return {}, Problem(name, first, "", DIGEST, f"digest {row['digest_id']}: {detail}")

    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return bad("its body is not JSON")
    key = keys.get(str(body.get("kid")))
    if key is None:
        return bad(f"signed with key {body.get('kid')!r}, which is not among the published keys")
    if not signature_holds(key, text, str(row["signature"])):
        return bad("its signature does not hold (the digest was changed)")
    if digest_id(text) != row["digest_id"] or (body.get("stream"), body.get("first_seq")) != (
        name,
        first,
    ):
        return bad("its columns do not match its signed body")
    return body, None


def _digest_links(
    name: str, digests: list[_Digest], anchor: _Digest | None, start: int, start_hash: str
) -> Problem | None:
    """Each digest names the one before it and starts where it ended."""
    previous_id = str(anchor.row["digest_id"]) if anchor else ""
    expected_first, expected_head = start, start_hash
    for digest in digests:
        body = digest.body
        if (body["previous_digest"], body["first_seq"], body["previous_head"]) != (
            previous_id,
            expected_first,
            expected_head,
        ):
            return Problem(
                name,
                expected_first,
                "",
                DELETED,
                f"the digest of positions {expected_first}.. is missing or was replaced: "
                f"digest {digest.row['digest_id']} (positions {body['first_seq']}.."
                f"{body['last_seq']}) names {body['previous_digest'] or 'no digest'} before it",
            )
        previous_id = str(digest.row["digest_id"])
        expected_first, expected_head = int(body["last_seq"]) + 1, str(body["head"])
    return None
