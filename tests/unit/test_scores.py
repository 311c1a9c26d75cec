"""``four_places`` is ``round(score, 4)``: on every tie, its neighbours, and random scores."""

from __future__ import annotations

import math
import random

import pytest

from kernel.scores import four_places


def _ties_and_neighbours() -> list[float]:
    found: list[float] = []
    for k in range(0, 20_001):
        value = k / 20_000  # every four-place value and every half between two
        found += [value, math.nextafter(value, 0.0), math.nextafter(value, 1.0)]
    return [v for v in found if 0.0 <= v <= 1.0]


def test_same_float_as_round_on_every_tie_and_its_neighbours() -> None:
    values = _ties_and_neighbours()
    differ = [v for v in values if four_places(v) != round(v, 4)]
    assert differ == []
    # Exact binary ties round half to even, as round() does: 1/32 = 0.03125.
    assert four_places(0.03125) == 0.0312
    assert four_places(0.09375) == 0.0938


def test_same_float_as_round_on_random_scores() -> None:
    draw = random.Random(20261207)
    values = [draw.random() for _ in range(200_000)]
    assert [four_places(v) for v in values] == [round(v, 4) for v in values]


@pytest.mark.parametrize("value", [-0.25, 1.5, 12345.678912, math.inf])
def test_outside_a_score_it_is_round(value: float) -> None:
    assert four_places(value) == round(value, 4)


def test_nan_stays_nan() -> None:
    assert math.isnan(four_places(math.nan))
