"""The values results carry, read only when asked for, answer every question as reading them
all at once does; and an ASCII text's values are the same in either regex mode."""

from __future__ import annotations

import re

import pytest

from models import values
from models.scenarios.generate import generate
from models.session import Trail, forget_readings, read_result

# Results of generated sessions over every domain, and texts made to sit on the edges: an
# IBAN written with spaces, a phone number with them, values ending a sentence, upper case,
# a non-ASCII text whose lower case changes a letter by its neighbour (a final sigma) or
# the length ("İ").
_EDGES = [
    "Pay GB29 NWBK 6016 1331 9268 19 by Friday.",
    "Call +44 20 7946 0958 or mail Ops.Team@Example.ORG;",
    "See https://Docs.Example.com/Runbook?id=7. Ticket INV-2291, ref #Ops-7 and @sam.",
    "ΟΔΟΣ-12 'ΑΣ' ref A1ΒΣ'Α id ΔΣ77 and x@ΠΣ.gr",
    "İstanbul office: IST-0042, mail İlker@example.com.tr",
    "account 12345678, code 42, year 2026, 1,234,567 rows",
]


def _texts() -> list[str]:
    found = [step.text for sc in generate(20261208, 240) for step in sc.steps if step.text]
    return _EDGES + found


def _probes(texts: list[str]) -> list[str]:
    """What a scorer asks: every value any text carries, as it is and with its spaces taken
    out, parts of values, and words that are no value."""
    probes: set[str] = set()
    for text_ in texts:
        for value in values.values_in(text_):
            probes.update({value, value.replace(" ", ""), value[1:], value[:-1]})
        probes.update(text_.lower().split()[:5])
    probes.update({"", "gb29nwbk60161331926819", "zz00aaaa0000bbbb", "nobody@nowhere.example"})
    return sorted(probes)


def test_an_ascii_text_gives_the_same_values_in_either_regex_mode() -> None:
    texts = [t for t in _texts() if t.isascii()]
    assert len(texts) > 1000
    unicode_id, unicode_iban = values.ID_LIKE, values.IBAN
    ascii_id, ascii_iban = values._ASCII_ID_LIKE, values._ASCII_IBAN
    assert ascii_id.flags & re.ASCII and not unicode_id.flags & re.ASCII
    for text_ in texts:
        assert ascii_id.findall(text_) == unicode_id.findall(text_), text_
        assert ascii_iban.findall(text_) == unicode_iban.findall(text_), text_


def test_a_trail_asked_one_value_answers_as_one_that_read_every_value() -> None:
    texts = _texts()
    foreign = _probes(texts)[::40]
    asked = 0
    for text_ in texts:
        carried = values.values_in(text_)
        for probe in _probes([text_]) + foreign:
            forget_readings()  # the reading is fresh: no other trail has asked its values
            trail = Trail()
            trail.see_result("c", text_)
            trail.read_results()
            assert trail.has_result_value(probe) == (probe in carried), (probe, text_)
            asked += 1
    assert asked > 20_000


@pytest.mark.parametrize("size", [1, 3, 40, 400])
def test_results_valued_when_asked_answer_as_results_valued_at_once(size: int) -> None:
    texts = _texts()
    others = _probes(texts)[::50]  # values of other sessions' results, words, no values
    sessions = 0
    for start in range(0, len(texts) - size + 1, max(len(texts) // 12, size)):
        chunk = texts[start : start + size]
        probes = _probes(chunk) + others
        lazy, eager = Trail(), set[str]()
        for i, text_ in enumerate(chunk):
            lazy.see_result(f"c{i}", text_)
            eager.update(values.values_in(text_))
            if i % max(size // 8, 1) == 0 or i == size - 1:  # asked along the way
                lazy.read_results()
                for probe in probes[i % 3 :: 3] if i < size - 1 else probes:
                    assert lazy.has_result_value(probe) == (probe in eager), (probe, chunk)
        assert lazy.unvalued is None or len(lazy.unvalued) <= 64
        sessions += 1
    assert sessions >= min(4, len(texts) // size)


def test_a_reading_reads_its_values_once_and_only_when_asked() -> None:
    body = "Invoice INV-7731 from billing@vendor.example, due soon"
    forget_readings()
    reading = read_result(body)
    assert reading.values is None and reading.text == body
    found = reading.value_set()
    assert found == {"inv-7731", "billing@vendor.example"}
    again = read_result(body)  # the reading the cache shares: its values read already
    assert again is reading and again.values is found and again.value_set() is found
    # A text lower-casing may change is read at once.
    other = read_result("ΟΔΟΣ-12 and İlker@example.com")
    assert other.values == frozenset(values.values_in("ΟΔΟΣ-12 and İlker@example.com"))


def test_a_trail_holds_on_to_a_bounded_number_of_unvalued_results() -> None:
    trail = Trail()
    for i in range(200):
        trail.see_result(f"c{i}", f"Record REC-{i:05d} of batch {i}")
    trail.read_results()
    assert trail.unvalued is not None and len(trail.unvalued) <= 64
    assert trail.unvalued_chars == sum(len(r.lower) for r in trail.unvalued)
    assert all(trail.has_result_value(f"rec-{i:05d}") for i in range(200))
    assert not trail.has_result_value("rec-00200")
