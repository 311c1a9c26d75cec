"""Waiting for something the system under test does in its own time: one way, for every test.

A wait either returns the value it waited for or fails naming what it waited for and the last
value it saw, so a timeout says how far things got. An exception raised by the condition
itself (an assertion that a process is still alive, say) fails the wait at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
def wait_for(
    condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = ...
) -> T: ...


@overload
def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = ...,
    until: Callable[[T], bool],
) -> T: ...


def wait_for(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    until: Callable[[Any], bool] = bool,
) -> Any:
    """Call ``condition`` every ``interval`` seconds until ``until(value)`` holds (by default:
    until the value is truthy); returns that value.

    Raises ``AssertionError`` naming ``what`` and the last value seen after ``timeout``
    seconds. The condition is always called at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}; last seen: {value!r}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@overload
async def wait_for_async(
    condition: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    what: str,
    interval: float = ...,
) -> T: ...


@overload
async def wait_for_async(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    interval: float = ...,
    until: Callable[[T], bool],
) -> T: ...


async def wait_for_async(
    condition: Callable[[], Awaitable[Any]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    until: Callable[[Any], bool] = bool,
) -> Any:
    """``wait_for`` for a coroutine condition, sleeping without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}; last seen: {value!r}")
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
