"""Offset arithmetic: what a consumer group has not yet committed past.

A worker commits a batch's offsets on ``<prefix>.events`` only after the batch's ledger
write, so a record whose offset the worker group's committed offset has passed is held by
the ledger (written, skipped as a duplicate, or dead-lettered). These functions take plain
mappings so that the commands' reports are tested as numbers in, numbers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Partition = tuple[str, int]  # (topic, partition)


def lag(ends: Mapping[int, int], committed: Mapping[int, int]) -> int:
    """Records of one topic before ``ends`` (the offset after each partition's last record)
    that the group has not committed past; a partition it never committed on counts whole."""
    return sum(max(0, end - committed.get(partition, 0)) for partition, end in ends.items())


@dataclass(slots=True)
class SentRanges:
    """Where one producer's messages went: per (topic, partition), each record batch as
    ``(base offset, count)``. A batch's offsets are contiguous, so this is exact however
    other producers' records interleave on the same partitions."""

    ranges: dict[Partition, list[tuple[int, int]]] = field(default_factory=dict)

    def add(self, topic: str, partition: int, base: int, count: int) -> None:
        if count > 0:
            self.ranges.setdefault((topic, partition), []).append((base, count))

    def total(self, topic: str) -> int:
        """Messages sent to ``topic``."""
        return sum(c for (t, _), batches in self.ranges.items() if t == topic for _, c in batches)

    def partitions(self, topic: str) -> list[int]:
        return sorted(p for t, p in self.ranges if t == topic)

    def held(self, topic: str, committed: Mapping[int, int]) -> int:
        """Messages sent to ``topic`` that the group, at ``committed`` (partition -> the
        offset its next read begins at), has passed."""
        return sum(
            _passed(batches, committed.get(partition, 0))
            for (t, partition), batches in self.ranges.items()
            if t == topic
        )

    def outstanding(self, topic: str, committed: Mapping[int, int]) -> int:
        return self.total(topic) - self.held(topic, committed)


def _passed(batches: Iterable[tuple[int, int]], committed: int) -> int:
    return sum(min(count, max(0, committed - base)) for base, count in batches)
