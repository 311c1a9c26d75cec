"""Check the ledger's tamper evidence: every stream's hash chain, then its signed digests.

Each stream is walked in position order. A row holds its record's place by two hashes: its
own (``chain_hash``, over the one before it and its record) and the one before it
(``chain_prev``). The first row that does not hold its place is named, and how:

- **edited**: its record no longer gives its hash (a byte of it changed);
- **deleted**: the row it was chained after is nowhere in the stream;
- **inserted**: a row chained to nothing (in no stream), or two rows chained after the
  same one, of which the one nothing was chained after is the stranger;
- **reordered**: it was chained after a row that comes later in the stream, or its record
  is the one chained at another position.

A stream whose rows all hold is then checked against its digests: each signed with a
published key, each naming the one before, and each run's Merkle root and last hash those
of the rows at its positions now. That catches what a chain alone cannot: records edited,
deleted or reordered and the chain computed again after them, or the newest ones deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kernel.events import ch_ts
from kernel.evidence import digest_id, genesis, link, merkle_root
from ledger import evidence as ledger_evidence
from ledger.store import LedgerStore
from processors.evidence import signature_holds

EDITED, DELETED, INSERTED, REORDERED, DIGEST = (
    "edited",
    "deleted",
    "inserted",
    "reordered",
    "digest",
)


@dataclass(frozen=True, slots=True)
class Problem:
    stream: str
    position: int
    event_id: str
    kind: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "detail": self.detail,
        }

    def describe(self) -> str:
        where = f"{self.stream} position {self.position}" if self.stream else "no stream"
        event = f", event {self.event_id}" if self.event_id else ""
        return f"{self.kind.upper()} at {where}{event}: {self.detail}"


@dataclass(slots=True)
class StreamCheck:
    stream: str
    first_position: int = 1
    records: int = 0
    digests: int = 0
    digested_to: int = 0  # the last position a checked digest covers
    problem: Problem | None = None

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
    chained = ledger_evidence.chained_rows(store, name, start)
    check.records = len(chained)
    held, check.problem = walk_chain(name, chained, start_hash, start)
    if check.problem is not None:
        return check
    for digest in digests:
        check.problem = _digest_holds(name, digest, held)
        if check.problem is not None:
            return check
        check.digests += 1
        check.digested_to = int(digest.body["last_seq"])
    return check


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


def walk_chain(
    name: str, rows: list[dict[str, Any]], start_hash: str, start: int = 1
) -> tuple[dict[int, str], Problem | None]:
    """The chain hash of each position from ``start`` (whose previous chain hash is
    ``start_hash``) whose row holds its place, up to the first that does not, and that
    one's problem."""
    held: dict[int, str] = {}
    accepted: list[dict[str, Any]] = []
    previous = start_hash
    successors = {row["prev"] for row in rows}
    position_of = {row["hash"]: index for index, row in enumerate(rows)}
    for index, row in enumerate(rows):
        seq, event_id = int(row["seq"]), str(row["event_id"])
        if not _links(row["prev"], row["record"], row["hash"]):
            return held, _edited_or_moved(name, row, rows, previous)
        if row["prev"] == previous:
            held[seq] = previous = row["hash"]
            accepted.append(row)
            continue
        later = position_of.get(row["prev"])
        if later is not None and later > index:
            before = rows[later]
            return held, Problem(
                name,
                seq,
                event_id,
                REORDERED,
                f"it was chained after event {before['event_id']}, which is at position "
                f"{before['seq']}, after it",
            )
        earlier = [i for i, r in enumerate(accepted) if r["hash"] == row["prev"]]
        if earlier or row["prev"] == start_hash:
            between = accepted[earlier[0] + 1 :] if earlier else accepted
            if all(r["hash"] not in successors for r in between):
                stranger = between[0]
                return held, Problem(
                    name,
                    int(stranger["seq"]),
                    str(stranger["event_id"]),
                    INSERTED,
                    f"nothing is chained after it; event {event_id} (position {seq}) is "
                    "chained to the row before it",
                )
            return held, Problem(
                name,
                seq,
                event_id,
                INSERTED,
                f"chained after the same row as event {between[0]['event_id']} "
                f"(position {between[0]['seq']}), which the chain goes on from",
            )
        gone = int(accepted[-1]["seq"]) + 1 if accepted else start
        after = f"after event {accepted[-1]['event_id']}" if accepted else "at the start"
        return held, Problem(
            name,
            gone,
            "",
            DELETED,
            f"the row {after} is gone: event {event_id} (position {seq}) was chained after "
            "a row the stream no longer holds",
        )
    return held, None


def _links(previous: str, record: str, chain_hash: str) -> bool:
    try:
        return link(bytes.fromhex(previous), bytes.fromhex(record)).hex() == chain_hash
    except ValueError:
        return False


def _edited_or_moved(
    name: str, row: dict[str, Any], rows: list[dict[str, Any]], previous: str
) -> Problem:
    """A row whose record does not give its hash: its record changed, or is another
    position's (records swapped between rows)."""
    seq, event_id = int(row["seq"]), str(row["event_id"])
    for other in rows:
        if other is not row and _links(other["prev"], row["record"], other["hash"]):
            return Problem(
                name,
                seq,
                event_id,
                REORDERED,
                f"its record is the one chained at position {other['seq']} "
                f"(event {other['event_id']})",
            )
    return Problem(
        name, seq, event_id, EDITED, "its record no longer gives the hash it was chained with"
    )


def _digest_holds(name: str, digest: _Digest, held: dict[int, str]) -> Problem | None:
    body = digest.body
    first, last = int(body["first_seq"]), int(body["last_seq"])
    missing = next((seq for seq in range(first, last + 1) if seq not in held), None)
    if missing is not None:
        return Problem(
            name,
            missing,
            "",
            DELETED,
            f"digest {digest.row['digest_id']} (made {body['made_at']}) covers positions "
            f"{first}..{last}; the ledger has nothing at {missing}",
        )
    leaves = [bytes.fromhex(held[seq]) for seq in range(first, last + 1)]
    if merkle_root(leaves).hex() != body["merkle_root"] or held[last] != body["head"]:
        return Problem(
            name,
            first,
            "",
            EDITED,
            f"the records at positions {first}..{last} are not those digest "
            f"{digest.row['digest_id']} (made {body['made_at']}) signed: edited, deleted or "
            "reordered, and the chain computed again",
        )
    return None
