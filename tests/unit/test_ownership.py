"""The stitch owner: which member the group gives the stream to, and what a member does when
it gains or loses it (``processors.ownership``)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from processors.ownership import (
    OWNER_MARK,
    Ownership,
    OwnershipLost,
    SingleOwnerAssignor,
    choose_owner,
    single_owner_assignment,
)

EVENTS, DECLARED = "t.events", "t.sessions.declared"


def test_a_new_group_gives_the_stream_to_the_smallest_member_id() -> None:
    assert choose_owner({"m-c": b"", "m-a": b"", "m-b": b""}) == "m-a"


def test_the_owner_keeps_the_stream_when_members_join_or_leave() -> None:
    assert choose_owner({"m-a": b"", "m-c": OWNER_MARK, "m-b": b""}) == "m-c"
    assert choose_owner({"m-c": OWNER_MARK}) == "m-c"


def test_of_two_claims_the_smallest_id_wins_and_the_other_loses_the_stream() -> None:
    # Two members both owned once (one was taken for dead and came back): only one keeps it.
    assert choose_owner({"m-b": OWNER_MARK, "m-a": OWNER_MARK, "m-0": b""}) == "m-a"


def test_every_partition_of_every_topic_goes_to_the_owner_and_none_elsewhere() -> None:
    partitions = {EVENTS: {5, 0, 3, 1, 2, 4}, DECLARED: {1, 0}}
    assignment = single_owner_assignment(["m-a", "m-b", "m-c"], "m-b", partitions)
    assert assignment == {
        "m-a": [],
        "m-b": [(EVENTS, [0, 1, 2, 3, 4, 5]), (DECLARED, [0, 1])],
        "m-c": [],
    }


class _Cluster:
    """The one thing the assignor asks of aiokafka's cluster metadata."""

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {EVENTS: {0, 1, 2, 3, 4, 5}, DECLARED: {0, 1}}.get(topic)


def test_the_assignor_says_it_owns_once_it_was_given_the_stream() -> None:
    first, second = SingleOwnerAssignor(), SingleOwnerAssignor()
    topics = [EVENTS, DECLARED]
    members = {"m-b": first.metadata(topics), "m-a": second.metadata(topics)}
    assert {bytes(m.user_data) for m in members.values()} == {b""}
    assigned = first.assign(_Cluster(), members)
    first.on_assignment(assigned["m-b"])
    second.on_assignment(assigned["m-a"])
    assert (first.owns, second.owns) == (False, True)
    # A third member joins with a smaller id: the owner says it owns, and keeps the stream.
    third = SingleOwnerAssignor()
    members = {
        "m-b": first.metadata(topics),
        "m-a": second.metadata(topics),
        "m-0": third.metadata(topics),
    }
    again = third.assign(_Cluster(), members)
    assert again["m-a"].partitions() == [(EVENTS, p) for p in range(6)] + [
        (DECLARED, 0),
        (DECLARED, 1),
    ]
    assert again["m-0"].partitions() == again["m-b"].partitions() == []


def _parts(*numbers: int) -> list[TopicPartition]:
    return [TopicPartition(EVENTS, n) for n in numbers]


def test_a_member_restores_once_when_it_takes_over_and_marks_itself_ready_as_a_standby() -> None:
    async def scenario() -> tuple[int, int, bool]:
        restored, joined = [], []

        async def take_over() -> None:
            restored.append(1)

        ownership = Ownership(take_over, on_joined=lambda: joined.append(1))
        await ownership.on_partitions_assigned([])  # a standby: joined, nothing restored
        standby_waits = not ownership._owning.is_set()
        await ownership.on_partitions_assigned(_parts(0, 1))
        await ownership.on_partitions_assigned(_parts(0, 1))  # a rebalance that keeps it
        await ownership.wait()
        return len(restored), len(joined), standby_waits

    assert asyncio.run(scenario()) == (1, 3, True)


def test_a_member_that_lost_the_stream_stops_stitching() -> None:
    async def scenario() -> None:
        async def take_over() -> None:
            return None

        ownership = Ownership(take_over)
        await ownership.on_partitions_assigned(_parts(0))
        await ownership.wait()
        await ownership.on_partitions_assigned([])
        ownership.check()  # asked after every read, with or without messages

    with pytest.raises(OwnershipLost):
        asyncio.run(scenario())


def test_a_failed_restore_stops_the_sink_with_its_reason() -> None:
    async def scenario() -> None:
        async def take_over() -> None:
            raise RuntimeError("the ledger is unreachable")

        ownership = Ownership(take_over)
        await ownership.on_partitions_assigned(_parts(0))
        await ownership.wait()

    with pytest.raises(RuntimeError, match="unreachable"):
        asyncio.run(scenario())


def test_assignment_metadata_round_trips_through_the_group_protocol() -> None:
    meta = SingleOwnerAssignor().metadata([EVENTS])
    decoded = ConsumerProtocolMemberMetadata.decode(meta.encode())
    assert decoded.subscription == [EVENTS]
    whole = ConsumerProtocolMemberAssignment(0, [(EVENTS, [0, 1])], b"")
    assert ConsumerProtocolMemberAssignment.decode(whole.encode()).partitions() == [
        (EVENTS, 0),
        (EVENTS, 1),
    ]
