"""Keyed messages go where Kafka's default partitioner puts them (murmur2), so a producer
outside the project that sends the same key lands on the same partition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.partitioner import KeyPartitioner, murmur2, positive

# Apache Kafka's own vectors (clients' UtilsTest.testMurmur2): Utils.murmur2 as a Java int.
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), KAFKA_VECTORS.items())
def test_murmur2_matches_the_java_client(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_partition_is_the_java_clients_to_positive_modulo() -> None:
    # BuiltInPartitioner.partitionForKey: Utils.toPositive(Utils.murmur2(key)) % partitions;
    # toPositive keeps the low 31 bits, which is not abs() for a negative hash.
    assert positive(-973932308) == 1173551340
    assert KeyPartitioner(6).partition(b"21") == 1173551340 % 6 == 0
    assert KeyPartitioner(7).partition(b"foobar") == (-790332482 & 0x7FFFFFFF) % 7 == 0
    assert KeyPartitioner(12).partition(b"abc") == 479470107 % 12 == 3
    assert KeyPartitioner(1).partition(b"anything") == 0


def _reference(data: bytes) -> int:
    """MurmurHash2 as the Java client writes it, byte by byte (signed bytes masked)."""
    m = 0x5BD1E995
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = k * m & 0xFFFFFFFF
        k ^= k >> 24
        k = k * m & 0xFFFFFFFF
        h = (h * m & 0xFFFFFFFF) ^ k
    rest = len(data) % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = h * m & 0xFFFFFFFF
    h ^= h >> 13
    h = h * m & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


@given(st.binary(max_size=80))
def test_murmur2_on_any_bytes(key: bytes) -> None:
    # High bytes in the tail and every length modulo 4: where a port usually goes wrong.
    assert murmur2(key) == _reference(key)


@given(st.binary(max_size=40), st.integers(min_value=1, max_value=64))
def test_cached_answers_are_the_computed_ones(key: bytes, count: int) -> None:
    partitioner = KeyPartitioner(count)
    first = partitioner.partition(key)
    assert first == (murmur2(key) & 0x7FFFFFFF) % count
    assert partitioner.partition(key) == first
    assert 0 <= first < count


def test_the_cache_stays_bounded() -> None:
    partitioner = KeyPartitioner(3)
    for n in range(KeyPartitioner.MAX_KEYS + 10):
        partitioner.partition(n.to_bytes(4, "big"))
    assert len(partitioner._cache) <= KeyPartitioner.MAX_KEYS
    assert partitioner.partition(b"foobar") == (-790332482 & 0x7FFFFFFF) % 3


def test_no_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        KeyPartitioner(0)
