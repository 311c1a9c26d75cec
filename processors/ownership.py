"""One stitcher for the whole stream, however many workers run: the stitch owner.

Stitching is global: a session's events arrive under different partition keys (a token's
``jti`` from Okta, an MCP server's name, an AWS access key from CloudTrail), so no split of
the partitions keeps a session on one worker, and two stitchers each seeing part of a session
write two sessions. The workers therefore share one consumer group on ``ledger.events``,
``ledger.events.calls`` and ``ledger.sessions.declared`` whose assignor gives every partition
of them to one member, the
owner, and none to the others (standbys). The owner restores the stitch state from the
ledger when it takes over, exactly as a single worker does at start, and so writes the
chains and labels one worker writes. ``docs/scaling.md`` says why, and how far it goes.

The choice is sticky: a member that owns says so in its join metadata, and the assignor
keeps it while it stays in the group, so a worker joining or leaving does not move the
stream. When the owner leaves (stopped: it has written and committed what it read) or dies
(its session times out), the member with the smallest id takes over and restores. A member
that finds it lost the stream while alive (it was taken for dead) stops (``OwnershipLost``):
its state is stale once another owner has written, and the stack starts it again as a
standby.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

log = logging.getLogger(__name__)

PROTOCOL: Final = "agentledger-stitch-owner"
OWNER_MARK: Final = b"owner"  # join metadata of the member that owns the stream now


class OwnershipLost(RuntimeError):
    """This worker stitched the stream and another member owns it now."""


def choose_owner(marks: Mapping[str, bytes]) -> str:
    """The member that owns the stream: the current owner if it is still a member (the
    smallest id among several claims), else the smallest member id."""
    claims = sorted(member for member, mark in marks.items() if mark == OWNER_MARK)
    return claims[0] if claims else min(marks)


def single_owner_assignment(
    members: Iterable[str], owner: str, partitions: Mapping[str, Iterable[int]]
) -> dict[str, list[tuple[str, list[int]]]]:
    """Every partition of every topic to ``owner``; nothing to the other members."""
    whole = sorted((topic, sorted(numbers)) for topic, numbers in partitions.items())
    return {member: (whole if member == owner else []) for member in members}


class SingleOwnerAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """The group assignor that puts the whole stream on one member (an instance per
    consumer: it remembers whether its member owns, to say so when the group rejoins)."""

    name = PROTOCOL
    version = 0

    def __init__(self) -> None:
        self.owns = False

    def assign(
        self,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = {topic for meta in members.values() for topic in meta.subscription}
        partitions: dict[str, set[int]] = {}
        for topic in topics:
            found = cluster.partitions_for_topic(topic)
            if found is None:
                log.warning("no partition metadata for topic %s", topic)
                continue
            partitions[topic] = set(found)
        owner = choose_owner({member: bytes(meta.user_data) for member, meta in members.items()})
        assignment = single_owner_assignment(members, owner, partitions)
        log.info("the stitch stream goes to member %s of %d", owner, len(members))
        return {
            member: ConsumerProtocolMemberAssignment(self.version, whole, b"")
            for member, whole in assignment.items()
        }

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(
            self.version, list(topics), OWNER_MARK if self.owns else b""
        )

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        self.owns = bool(assignment.partitions())


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Follows the group: restores the stitch state when this member takes the stream over,
    and holds the sink back until it has (``wait``)."""

    def __init__(
        self,
        take_over: Callable[[], Awaitable[None]],
        on_joined: Callable[[], None] | None = None,
    ) -> None:
        self.assignor = SingleOwnerAssignor()
        self._take_over = take_over
        self._on_joined = on_joined
        self.owner = False
        self.lost = False
        self._failure: BaseException | None = None
        self._owning = asyncio.Event()  # set once the state is restored, until it is lost

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        owns = bool(list(assigned))
        if self._on_joined is not None:
            self._on_joined()  # a standby has joined too: it is ready to take over
        if owns and not self.owner and not self.lost and self._failure is None:
            try:
                await self._take_over()
            except Exception as exc:  # aiokafka only logs a listener's error: keep it
                self._failure = exc
                self._owning.set()
                return
            self.owner = True
            self._owning.set()
            log.info("this worker stitches the stream now")
        elif not owns and self.owner:
            self.owner, self.lost = False, True
            self._owning.set()
            log.error("another worker stitches the stream now: this one stops stitching")

    def check(self) -> None:
        """``OwnershipLost`` once the stream has moved on (the restore's error if it failed):
        a member that lost it stops, to start again as a standby with no stale state."""
        if self._failure is not None:
            raise self._failure
        if self.lost:
            raise OwnershipLost("another worker took the stitch stream over")

    async def wait(self) -> None:
        """Until this member has restored the state it stitches with (a batch can only come
        from partitions it was assigned); ``OwnershipLost`` once the stream has moved on."""
        await self._owning.wait()
        self.check()
