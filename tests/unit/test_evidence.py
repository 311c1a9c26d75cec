"""Tamper evidence as pure logic: record hashes, the chain, Merkle roots, signed digests,
and how a check names what was done to a chain (``processors.verify.walk_chain``)."""

from __future__ import annotations

import base64
import hashlib
import itertools
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from kernel.evidence import (
    RECORD_FIELDS,
    chain_rows,
    digest_body,
    digest_id,
    genesis,
    link,
    merkle_root,
    record_hash,
)
from ledger.schema import column_types
from processors.chain_walk import (
    DELETED,
    EDITED,
    INSERTED,
    REORDERED,
    ChainWalk,
    Problem,
    RowsLookup,
)
from processors.evidence import DigestSigner, signature_holds

STREAM = "ledger.events/0"


def _row(n: int) -> dict[str, Any]:
    return {
        "event_id": f"e-{n:03d}",
        "source": "mcp",
        "kind": "tool_call",
        "event_time": f"2026-12-03 08:00:{n % 60:02d}.000001",
        "ingested_at": "2026-12-03 08:01:00.000000",
        "ingest_batch": "b",
        "position": f"capture.jsonl:{n}",
        "raw_topic": "ledger.raw.mcp",
        "raw_partition": 0,
        "raw_offset": n,
        "raw": orjson.dumps({"n": n, "text": "é ☃"}).decode(),
        "session_id": "s-1",
        "source_id": "",
    }


def _chain(count: int) -> list[dict[str, Any]]:
    rows = [_row(n) for n in range(count)]
    chain_rows(STREAM, 0, genesis(STREAM), rows)
    return rows


def _as_read(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the check reads them back (``ledger.evidence.chained_rows``), in order
    of position, the record's hash computed afresh from what each row holds now."""
    read = [
        {
            "seq": row["chain_seq"],
            "event_id": row["event_id"],
            "prev": row["chain_prev"],
            "hash": row["chain_hash"],
            "record": record_hash(row).hex(),
        }
        for row in rows
    ]
    return sorted(read, key=lambda r: (r["seq"], r["event_id"]))


def walk_chain(rows: list[dict[str, Any]], start: int = 1) -> tuple[int, Problem | None]:
    """Walk ``rows`` (as read back) from the stream's start: how many held, and the first
    problem."""
    walk = ChainWalk(STREAM, genesis(STREAM).hex(), start, RowsLookup(rows))
    held = 0
    for row in rows:
        problem = walk.step(row)
        if problem is not None:
            return held, problem
        held += 1
    return held, None


def _rfc6962(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, as written: split at the largest power of two below n."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = _rfc6962(leaves[:k]), _rfc6962(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("count", [*range(1, 18), 31, 32, 33, 100])
def test_merkle_root_is_rfc6962_tree_hash(count: int) -> None:
    leaves = [hashlib.sha256(bytes([n % 256, n // 256])).digest() for n in range(count)]
    assert merkle_root(leaves) == _rfc6962(leaves)


def test_merkle_root_changes_with_any_leaf_or_their_order() -> None:
    leaves = [hashlib.sha256(bytes([n])).digest() for n in range(7)]
    root = merkle_root(leaves)
    assert merkle_root(leaves[:3] + leaves[4:]) != root
    assert merkle_root([leaves[1], leaves[0], *leaves[2:]]) != root
    assert merkle_root([*leaves[:6], b"\x00" * 32]) != root


def test_the_record_hash_covers_every_column_the_writer_sets() -> None:
    # stored_at is the ledger's, stitch_version the stitcher's (when it wrote the row, not
    # what was recorded): neither is part of the record.
    written = set(column_types("raw_events")) - {"stored_at", "stitch_version"}
    assert set(RECORD_FIELDS) == {c for c in written if not c.startswith("chain_")}
    row = _row(1)
    base = record_hash(row)
    for name in RECORD_FIELDS:
        changed = dict(row)
        changed[name] = str(row[name]) + "x" if isinstance(row[name], str) else row[name] + 1
        assert record_hash(changed) != base, name


def test_fields_are_length_prefixed_so_bytes_cannot_move_between_them() -> None:
    row = _row(1)
    moved = {**row, "ingest_batch": row["ingest_batch"] + "c", "position": "apture.jsonl:1"}
    row["position"] = "capture.jsonl:1"
    assert record_hash(moved) != record_hash(row)


def test_chain_rows_links_each_row_to_the_one_before_and_goes_on_from_a_head() -> None:
    rows = [_row(n) for n in range(5)]
    seq, head = chain_rows(STREAM, 0, genesis(STREAM), rows[:3])
    seq, head = chain_rows(STREAM, seq, head, rows[3:])
    assert [r["chain_seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["chain_prev"] == genesis(STREAM).hex()
    for before, row in itertools.pairwise(rows):
        assert row["chain_prev"] == before["chain_hash"]
    for row in rows:
        expected = link(bytes.fromhex(row["chain_prev"]), record_hash(row))
        assert row["chain_hash"] == expected.hex()
    assert (seq, head.hex()) == (5, rows[-1]["chain_hash"])
    # The same rows in one go give the same chain: where a batch ends does not matter.
    again = [_row(n) for n in range(5)]
    chain_rows(STREAM, 0, genesis(STREAM), again)
    assert [r["chain_hash"] for r in again] == [r["chain_hash"] for r in rows]


def test_a_stream_chain_is_not_another_streams() -> None:
    one, other = [_row(1)], [_row(1)]
    chain_rows(STREAM, 0, genesis(STREAM), one)
    chain_rows("ledger.events/1", 0, genesis("ledger.events/1"), other)
    assert one[0]["chain_hash"] != other[0]["chain_hash"]


def test_an_untouched_chain_holds() -> None:
    rows = _chain(20)
    held, problem = walk_chain(_as_read(rows))
    assert (held, problem) == (20, None)


def test_one_changed_byte_is_named_edited() -> None:
    rows = _chain(20)
    rows[7]["raw"] = rows[7]["raw"].replace("7", "8", 1)
    _, problem = walk_chain(_as_read(rows))
    assert problem is not None
    assert (problem.kind, problem.position, problem.event_id) == (EDITED, 8, "e-007")


def test_a_deleted_row_is_named_by_its_position() -> None:
    rows = _chain(20)
    del rows[11]
    _, problem = walk_chain(_as_read(rows))
    assert problem is not None
    assert (problem.kind, problem.position) == (DELETED, 12)
    assert "e-010" in problem.detail and "e-012" in problem.detail


def test_a_deleted_first_row_is_named_too() -> None:
    rows = _chain(5)[1:]
    _, problem = walk_chain(_as_read(rows))
    assert problem is not None and (problem.kind, problem.position) == (DELETED, 1)


def test_an_inserted_row_chained_in_and_the_rest_renumbered_is_named() -> None:
    rows = _chain(20)
    forged = _row(99)
    chain_rows(STREAM, 5, bytes.fromhex(rows[4]["chain_hash"]), [forged])  # after position 5
    for row in rows[5:]:
        row["chain_seq"] += 1
    _, problem = walk_chain(_as_read([*rows, forged]))
    assert problem is not None
    assert (problem.kind, problem.position, problem.event_id) == (INSERTED, 6, "e-099")


@pytest.mark.parametrize("forged_id", ["a-first", "z-last"])
def test_an_inserted_row_sharing_a_position_is_named_whichever_sorts_first(
    forged_id: str,
) -> None:
    rows = _chain(10)
    forged = {**_row(50), "event_id": forged_id}
    chain_rows(STREAM, 3, bytes.fromhex(rows[2]["chain_hash"]), [forged])  # position 4 too
    _, problem = walk_chain(_as_read([*rows, forged]))
    assert problem is not None
    assert (problem.kind, problem.position, problem.event_id) == (INSERTED, 4, forged_id)


@pytest.mark.parametrize(("a", "b"), [(3, 4), (3, 8)])
def test_two_rows_swapped_in_position_are_named_reordered(a: int, b: int) -> None:
    rows = _chain(12)
    rows[a]["chain_seq"], rows[b]["chain_seq"] = rows[b]["chain_seq"], rows[a]["chain_seq"]
    _, problem = walk_chain(_as_read(rows))
    assert problem is not None
    assert (problem.kind, problem.position) == (REORDERED, a + 1)
    assert problem.event_id == rows[b]["event_id"]


def test_two_records_swapped_between_rows_are_named_reordered() -> None:
    rows = _chain(12)
    first = {f: rows[2][f] for f in RECORD_FIELDS}
    rows[2].update({f: rows[9][f] for f in RECORD_FIELDS})
    rows[9].update(first)
    _, problem = walk_chain(_as_read(rows))
    assert problem is not None
    assert (problem.kind, problem.position) == (REORDERED, 3)
    assert "position 10" in problem.detail


def test_a_digest_is_signed_over_its_canonical_body_and_names_the_one_before() -> None:
    rows = _chain(6)
    hashes = [bytes.fromhex(r["chain_hash"]) for r in rows]
    signer = DigestSigner(OKPKey.generate_key("Ed25519", private=True))
    first = digest_body(
        stream=STREAM,
        first_seq=1,
        last_seq=4,
        chain_hashes=hashes[:4],
        previous_head=genesis(STREAM),
        previous_digest="",
        made_at="2026-12-03 08:00:00.000000",
        kid=signer.kid,
    )
    second = digest_body(
        stream=STREAM,
        first_seq=5,
        last_seq=6,
        chain_hashes=hashes[4:],
        previous_head=hashes[3],
        previous_digest=digest_id(first),
        made_at="2026-12-03 08:01:00.000000",
        kid=signer.kid,
    )
    body = orjson.loads(second)
    assert body["previous_digest"] == digest_id(first)
    assert body["merkle_root"] == merkle_root(hashes[4:]).hex()
    assert body["head"] == rows[5]["chain_hash"]
    assert second == orjson.dumps(body, option=orjson.OPT_SORT_KEYS)  # canonical
    signature = signer.sign(second)
    public = OKPKey.import_key(signer.public_jwk()).public_key
    assert isinstance(public, Ed25519PublicKey)
    assert signature_holds(public, second, signature)
    changed = second.replace(b'"last_seq":6', b'"last_seq":7')
    assert not signature_holds(public, changed, signature)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01  # one bit of the signature itself, not of the encoding's padding
    assert not signature_holds(public, second, base64.urlsafe_b64encode(raw).decode())
    with pytest.raises(ValueError, match="chain hashes"):
        digest_body(
            stream=STREAM,
            first_seq=1,
            last_seq=4,
            chain_hashes=hashes[:3],
            previous_head=genesis(STREAM),
            previous_digest="",
            made_at="2026-12-03 08:00:00.000000",
            kid=signer.kid,
        )


def test_the_public_jwk_carries_no_private_part() -> None:
    signer = DigestSigner(OKPKey.generate_key("Ed25519", private=True))
    assert "d" not in signer.public_jwk()
    assert signer.public_jwk()["kid"] == signer.kid
