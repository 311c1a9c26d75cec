"""The value classes whose ``__init__`` is written out (so that compiled it runs natively)
still behave as the dataclasses they are: every field set, defaults as declared, ``replace``
and equality working. A field added to a class but not to its ``__init__`` fails here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from kernel.events import Event
from kernel.verdicts import Limits
from models.session import ResultReading, Trail
from models.trail import Call, DriftScore, Reading
from processors.labels import Hop

_AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _declared(cls: type[Any], required: int) -> dict[str, Any]:
    """The defaults the fields after the first ``required`` declare (factories called)."""
    out = {}
    for f in dataclasses.fields(cls)[required:]:
        factory = f.default_factory
        out[f.name] = factory() if factory is not dataclasses.MISSING else f.default
    return out


# Each class with its required arguments only, and the defaults its fields declare.
_CASES: list[tuple[type[Any], tuple[Any, ...], dict[str, Any]]] = [
    (
        Call,
        ("a-1", "send_email", _AT),
        {"arguments": {}, "server": "", "resource": "", "access": "", "api": False},
    ),
    (DriftScore, (0.5, False, ("r",), "m-1"), {"out_of_bounds": False}),
    (
        Reading,
        ([0.0], "read"),
        {
            "paged": False,
            "volume": 0.0,
            "details": {},
            "named_keys": [],
            "signature": 0,
            "at": 0.0,
        },
    ),
    (ResultReading, ("x", "x", frozenset({"x"}), 0.0, (), frozenset()), {}),
    (Hop, ("human", "sam@acme.example"), {"session_id": "", "via": "", "intent": None}),
    (Event, ("e-1", "mcp", "tool_call", _AT, "tools/call", "f:1", "{}"), _declared(Event, 7)),
    (Trail, (), _declared(Trail, 0)),
    (Limits, (), _declared(Limits, 0)),
]


@pytest.mark.parametrize(("cls", "required", "defaults"), _CASES, ids=lambda c: str(c)[:20])
def test_every_field_is_set_with_its_default(
    cls: type[Any], required: tuple[Any, ...], defaults: dict[str, Any]
) -> None:
    made = cls(*required)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {name: getattr(made, name) for name in names}  # AttributeError if one is unset
    assert list(values)[: len(required)] == names[: len(required)]
    assert [values[n] for n in names[: len(required)]] == list(required)
    assert {n: values[n] for n in names[len(required) :]} == defaults


@pytest.mark.parametrize(("cls", "required", "defaults"), _CASES, ids=lambda c: str(c)[:20])
def test_replace_and_equality_still_work(
    cls: type[Any], required: tuple[Any, ...], defaults: dict[str, Any]
) -> None:
    made = cls(*required)
    assert cls(*required) == made
    if not required:  # a trail or limits built empty: nothing to replace by position
        return
    first = dataclasses.fields(cls)[0].name
    changed = dataclasses.replace(made, **{first: required[0]})
    assert changed == made and changed is not made


def test_defaults_that_are_containers_are_not_shared() -> None:
    first, second = Reading([0.0], "read"), Reading([0.0], "read")
    first.details["kind_write"] = "send"
    first.named_keys.append("invoice")
    assert second.details == {} and second.named_keys == []
    assert Call("a", "t", _AT).arguments is not Call("b", "t", _AT).arguments
    made = [Event("e", "mcp", "tool_call", _AT, "op", "p", "{}") for _ in range(2)]
    assert made[0].scopes is not made[1].scopes and made[0].keys is not made[1].keys
    assert made[0].attributes is not made[1].attributes
    assert Trail().tools is not Trail().tools and Trail().call_times is not Trail().call_times


def test_an_event_still_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Event("e", "mcp", "tool_call", _AT.replace(tzinfo=None), "op", "p", "{}")
