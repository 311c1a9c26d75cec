"""Kafka's default partitioner for keyed messages: ``murmur2(key) & 0x7fffffff % partitions``.

The Java client (``Utils.murmur2``, ``BuiltInPartitioner.partitionForKey``) and librdkafka's
``murmur2_random`` place a keyed message this way, so a producer outside the project that sends
the same key lands on the same partition as the ingest does. No maintained C implementation of
Kafka's murmur2 variant exists on PyPI; this one is pure Python and caches each key's hash,
since a session's key (a token's ``jti``, an MCP session id, an STS key) recurs on every event
of the session.
"""

from __future__ import annotations

from struct import Struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, Struct] = {}


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: MurmurHash2, 32 bits, seed ``0x9747b28c``, as a signed int
    (Java's ``int``)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    blocks = length >> 2
    if blocks:
        words = _WORDS.get(blocks)
        if words is None:
            words = _WORDS[blocks] = Struct(f"<{blocks}I")
        for k in words.unpack_from(data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            k = (k * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = blocks << 2
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def positive(value: int) -> int:
    """Kafka's ``Utils.toPositive``: the low 31 bits (not ``abs``)."""
    return value & 0x7FFFFFFF


class KeyPartitioner:
    """``partition(key)`` for a topic of ``count`` partitions, as Kafka's default partitioner
    places a keyed message; each key's answer is kept (a bounded cache, emptied when full)."""

    __slots__ = ("_cache", "count")

    MAX_KEYS = 65_536

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("a topic has at least one partition")
        self.count = count
        self._cache: dict[bytes, int] = {}

    def partition(self, key: bytes) -> int:
        found = self._cache.get(key)
        if found is None:
            found = (murmur2(key) & 0x7FFFFFFF) % self.count
            if len(self._cache) >= self.MAX_KEYS:
                self._cache.clear()
            self._cache[key] = found
        return found
