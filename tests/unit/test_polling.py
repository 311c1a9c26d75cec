"""The tests' one way of waiting: it returns what it waited for, or fails saying how far it got."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.polling import wait_for, wait_for_async


def test_the_value_waited_for_is_returned() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter), until=lambda n: n >= 3, timeout=5, what="3") == 3
    answers = iter([None, "", "ready"])
    assert wait_for(lambda: next(answers), timeout=5, interval=0, what="an answer") == "ready"


def test_a_timeout_names_what_and_the_last_value_seen() -> None:
    with pytest.raises(AssertionError, match=r"waited 0.05s for 7 rows in t; last seen: 2"):
        wait_for(lambda: 2, until=lambda n: n >= 7, timeout=0.05, interval=0.01, what="7 rows in t")


def test_a_failing_condition_fails_the_wait_at_once() -> None:
    calls = []

    def exited() -> bool:
        calls.append(1)
        raise AssertionError("the process exited early")

    with pytest.raises(AssertionError, match="exited early"):
        wait_for(exited, timeout=30, what="never")
    assert len(calls) == 1


def test_the_async_wait() -> None:
    counter = itertools.count()

    async def poll() -> int:
        return next(counter)

    async def main() -> int:
        return await wait_for_async(poll, until=lambda n: n == 2, timeout=5, interval=0, what="2")

    assert asyncio.run(main()) == 2
    with pytest.raises(AssertionError, match="last seen: 0"):
        asyncio.run(wait_for_async(lambda: asyncio.sleep(0, 0), timeout=0.02, what="truth"))
