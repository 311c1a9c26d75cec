"""The bench's two phases: CPU per role while the records go in, and while the stack
finishes what it holds, with the cores each makes."""

from __future__ import annotations

from agentledger.bench import phases


def test_each_phase_has_its_seconds_cpu_and_cores_per_role() -> None:
    start = {"ingest": 1.0, "worker": 2.0, "ledger": 0.5}
    produced = {"ingest": 11.0, "worker": 10.0, "ledger": 4.5}
    end = {"ingest": 11.2, "worker": 15.0, "ledger": 7.0}
    found = phases(start, produced, end, intake_s=10.0, tail_s=5.0)
    assert found["intake"] == {
        "seconds": 10.0,
        "cpu_seconds": {"ingest": 10.0, "ledger": 4.0, "worker": 8.0},
        "cores": {"ingest": 1.0, "ledger": 0.4, "worker": 0.8, "all": 2.2},
    }
    # The tail: the worker on one core, the machine under two: the worker bounds it.
    assert found["tail"] == {
        "seconds": 5.0,
        "cpu_seconds": {"ingest": 0.2, "ledger": 2.5, "worker": 5.0},
        "cores": {"ingest": 0.04, "ledger": 0.5, "worker": 1.0, "all": 1.54},
    }


def test_a_role_missing_before_counts_from_zero_and_an_empty_phase_has_no_cores() -> None:
    # A role the earlier reading lacks counts from zero; one whose process is gone by the
    # later reading (fewer seconds than before) is not made negative.
    found = phases(
        {"worker": 3.0},
        {"worker": 3.0, "scoring": 0.0},
        {"worker": 2.0, "scoring": 1.5},
        intake_s=0.0,
        tail_s=3.0,
    )
    assert found["intake"]["cores"] == {}
    assert found["intake"]["cpu_seconds"] == {"scoring": 0.0, "worker": 0.0}
    assert found["tail"]["cpu_seconds"] == {"scoring": 1.5, "worker": 0.0}
    assert found["tail"]["cores"] == {"scoring": 0.5, "worker": 0.0, "all": 0.5}
