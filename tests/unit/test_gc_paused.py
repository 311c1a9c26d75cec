"""The collector is paused around a block of ingest work and comes back after, however the
pauses nest or interleave, and is never turned on by a pause if someone else turned it off."""

from __future__ import annotations

import gc

import pytest

from kernel.procs import gc_paused

pytestmark = pytest.mark.usefixtures("collector_on")


def test_paused_inside_and_back_after() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_after_an_error() -> None:
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_interleaved_pauses_end_with_the_last() -> None:
    first = gc_paused()
    second = gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start ends first (two coroutines)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
