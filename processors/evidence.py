"""Tamper evidence as the sink writes: each raw event chained to the one before it in its
stream, and signed digests of what was written, kept in the ledger and published.

A stream is one partition of a topic the worker reads (``ledger.events`` and
``ledger.events.calls``): one worker owns it at a time, and reads it in offset order, so its
chain has one writer. The sink calls four hooks:

- ``own(assignment)`` before a batch's events are looked up (in a thread): a partition
  newly assigned has its chain head read from the ledger, so a restarted worker, or the
  next owner after a rebalance, goes on with the chain where it stands;
- ``chain(rows, where)`` once a batch is stitched: each new ``raw_events`` row gets its
  stream, position and chain hashes, in offset order. Events the ledger already holds
  (replays) were left out before, so a replay never forks a chain;
- ``written(rows)`` once the rows are in the ledger: they may go into the next digest;
- ``seal()`` every ``digest_interval_s`` (the worker's timer, and once more as it stops):
  one digest for each stream with records written since its last digest.

A record written and not yet digested is covered by the chain alone until the next digest:
deleting the newest records of a stream, before a digest names them, cannot be told apart
from their never having been written.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from kernel.errors import ConfigError
from kernel.events import ch_ts, now_utc
from kernel.evidence import chain_rows, digest_body, digest_id, genesis
from kernel.keyfiles import EVIDENCE_SIGNING_KEY_FILE, read_or_make, secrets_dir
from ledger import evidence as ledger_evidence
from ledger.rows import Row
from ledger.store import LedgerStore

log = logging.getLogger(__name__)

# The public keys digests are checked with (a JWKS), next to the data, readable by all:
# ``agentledger verify`` needs no secret.
EVIDENCE_KEYS_FILE = "evidence_keys.json"


# -- keys --------------------------------------------------------------------------------------
def _new_private_jwk() -> str:
    key = OKPKey.generate_key("Ed25519", private=True)
    return orjson.dumps(key.as_dict(private=True)).decode()


class DigestSigner:
    """Signs digests with the deployment's Ed25519 key; ``kid`` is its JWK thumbprint."""

    def __init__(self, key: OKPKey) -> None:
        self.key = key
        self.kid = key.thumbprint()

    def sign(self, body: bytes) -> str:
        signature = self.key.private_key.sign(body)  # type: ignore[union-attr]
        return base64.urlsafe_b64encode(signature).rstrip(b"=").decode()

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": "EdDSA"}


def digest_signer(data_dir: Path) -> DigestSigner:
    """The deployment's digest key: made once, kept in ``DATA_DIR/secrets`` (0600); its
    public half is published to ``DATA_DIR/evidence_keys.json`` for ``verify``."""
    path = secrets_dir(data_dir) / EVIDENCE_SIGNING_KEY_FILE
    text = read_or_make(path, _new_private_jwk)
    try:
        key = OKPKey.import_key(orjson.loads(text))
    except (ValueError, TypeError, JoseError, orjson.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path} is not an Ed25519 private JWK ({type(exc).__name__}); digests already "
            "made stay checkable with the published public key: move the file away and a new "
            "key is made at the next start"
        ) from exc
    if not key.is_private or key.curve_name != "Ed25519":
        raise ConfigError(f"{path} must hold a private Ed25519 key")
    signer = DigestSigner(key)
    publish_key(data_dir / EVIDENCE_KEYS_FILE, signer.public_jwk())
    return signer


def publish_key(path: Path, jwk: dict[str, Any]) -> None:
    """Add ``jwk`` to the JWKS at ``path`` (keys published before stay: old digests are
    checked with them)."""
    keys = _read_jwks(path)
    if any(k.get("kid") == jwk["kid"] for k in keys):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps({"keys": [*keys, jwk]}, option=orjson.OPT_INDENT_2))
    tmp.chmod(0o644)
    tmp.replace(path)


def _read_jwks(path: Path) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not a JSON Web Key Set: {exc}") from exc
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ConfigError(f"{path} is not a JSON Web Key Set (no `keys` list)")
    return [k for k in keys if isinstance(k, dict)]


def published_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 public keys of the JWKS at ``path``, by ``kid`` (the JWK thumbprint,
    computed here: a key cannot claim another's id)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in _read_jwks(path):
        public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x")}
        try:
            key = OKPKey.import_key(public)
        except (ValueError, TypeError, JoseError) as exc:
            raise ConfigError(f"{path}: a key that is not an Ed25519 public key: {exc}") from exc
        if key.curve_name == "Ed25519" and isinstance(key.public_key, Ed25519PublicKey):
            keys[key.thumbprint()] = key.public_key
    return keys


def signature_holds(key: Ed25519PublicKey, body: bytes, signature: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        key.verify(raw, body)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- chaining as the sink writes -----------------------------------------------------------
@dataclass(slots=True)
class _Stream:
    name: str
    seq: int  # the last position chained
    head: bytes  # its chain hash
    digested_seq: int  # the last position a digest covers
    digested_head: bytes
    last_digest: str
    written: dict[int, str] = field(default_factory=dict)  # in the ledger, not yet digested


_BY_OFFSET, _ROW = itemgetter(0), itemgetter(1)
Place = tuple[str, int]  # a topic and one of its partitions: a stream


class EvidenceChain:
    """The chains of the partitions of ``topics`` this worker owns, and their digests."""

    def __init__(
        self,
        store: LedgerStore,
        topics: Iterable[str],
        signer: DigestSigner,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.store = store
        self.topics = frozenset(topics)
        self.signer = signer
        self.clock = clock
        self._owned: frozenset[Place] = frozenset()
        self._streams: dict[Place, _Stream] = {}
        self._lock = threading.Lock()  # ``written`` and ``seal`` run in worker threads
        self._sealing = threading.Lock()  # one seal at a time: each names the one before

    @staticmethod
    def stream_name(place: Place) -> str:
        return f"{place[0]}/{place[1]}"

    def owns(self, assignment: Iterable[Any]) -> bool:
        """Whether ``own(assignment)`` has nothing to do: these are the partitions owned."""
        return self._places(assignment) == self._owned

    def _places(self, assignment: Iterable[Any]) -> frozenset[Place]:
        return frozenset((tp.topic, tp.partition) for tp in assignment if tp.topic in self.topics)

    def own(self, assignment: Iterable[Any]) -> None:
        """The partitions (aiokafka ``TopicPartition``) assigned now. Blocking: a partition
        newly assigned has its chain read from the ledger; one no longer assigned is
        forgotten (its next owner reads its chain)."""
        owned = self._places(assignment)
        if owned == self._owned:
            return
        loaded = self._load(owned - self._owned)
        with self._lock:
            for place in self._owned - owned:
                self._streams.pop(place, None)
            self._streams.update(loaded)
            self._owned = owned

    def _load(self, places: Iterable[Place]) -> dict[Place, _Stream]:
        names = {self.stream_name(p): p for p in places}
        if not names:
            return {}
        heads = ledger_evidence.chain_heads(self.store, list(names))
        digests = ledger_evidence.last_digests(self.store, list(names))
        loaded: dict[Place, _Stream] = {}
        for name, place in names.items():
            start = genesis(name)
            seq, head = heads.get(name, (0, start.hex()))
            digest = digests.get(name)
            digested = int(digest["last_seq"]) if digest else 0
            digested_head = bytes.fromhex(digest["head"]) if digest else start
            if digested > seq:  # records a digest names are gone: go on after the digest
                seq, head = digested, digested_head.hex()
            stream = _Stream(
                name,
                seq,
                bytes.fromhex(head),
                digested,
                digested_head,
                digest["digest_id"] if digest else "",
            )
            if seq > digested:
                stream.written = dict(
                    ledger_evidence.chain_hashes_after(self.store, name, digested)
                )
            loaded[place] = stream
        return loaded

    def chain(self, rows: Iterable[Row], where: Mapping[str, tuple[str, int, int]]) -> None:
        """Give each row its place in its stream: ``where`` has each event's topic,
        partition and offset."""
        by_place: dict[Place, list[tuple[int, Row]]] = {}
        for row in rows:
            topic, partition, offset = where[row["event_id"]]
            items = by_place.get((topic, partition))
            if items is None:
                by_place[(topic, partition)] = items = []
            items.append((offset, row))
        for place, items in by_place.items():
            stream = self._streams.get(place)
            if stream is None:  # read before its assignment was seen: take it now
                with self._lock:
                    stream = self._streams[place] = self._load([place])[place]
            items.sort(key=_BY_OFFSET)
            stream.seq, stream.head = chain_rows(
                stream.name, stream.seq, stream.head, map(_ROW, items)
            )

    def written(self, rows: Iterable[Row]) -> None:
        """``rows`` are in the ledger: the next digest may name them."""
        with self._lock:
            streams = {s.name: s.written for s in self._streams.values()}
            for row in rows:
                pending = streams.get(row["chain_stream"])
                if pending is not None:
                    pending[row["chain_seq"]] = row["chain_hash"]

    def seal(self) -> list[dict[str, Any]]:
        """A signed digest for each stream with records written since its last one, stored
        in the ledger (blocking); returns them as published. Safe to repeat after a failed
        write: nothing is marked digested until the ledger holds the digests."""
        with self._sealing:
            return self._seal()

    def _seal(self) -> list[dict[str, Any]]:
        made_at = ch_ts(self.clock())
        made: list[tuple[_Stream, int, str, dict[str, Any]]] = []
        with self._lock:
            for stream in self._streams.values():
                first = stream.digested_seq + 1
                hashes: list[bytes] = []
                while (chain_hash := stream.written.get(first + len(hashes))) is not None:
                    hashes.append(bytes.fromhex(chain_hash))
                if not hashes:
                    continue
                last = first + len(hashes) - 1
                body = digest_body(
                    stream=stream.name,
                    first_seq=first,
                    last_seq=last,
                    chain_hashes=hashes,
                    previous_head=stream.digested_head,
                    previous_digest=stream.last_digest,
                    made_at=made_at,
                    kid=self.signer.kid,
                )
                row: dict[str, Any] = {
                    "stream": stream.name,
                    "first_seq": first,
                    "last_seq": last,
                    "digest_id": digest_id(body),
                    "head": hashes[-1].hex(),
                    "made_at": made_at,
                    "kid": self.signer.kid,
                    "body": body.decode(),
                    "signature": self.signer.sign(body),
                }
                made.append((stream, last, row["head"], row))
        if not made:
            return []
        ledger_evidence.insert_digests(self.store, [row for *_, row in made])
        with self._lock:
            for stream, last, head, row in made:
                for seq in range(stream.digested_seq + 1, last + 1):
                    stream.written.pop(seq, None)
                stream.digested_seq = last
                stream.digested_head = bytes.fromhex(head)
                stream.last_digest = row["digest_id"]
        log.info("sealed %d digests", len(made))
        return [
            {k: row[k] for k in ("digest_id", "stream", "body", "signature")} for *_, row in made
        ]
