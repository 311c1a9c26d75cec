"""The word check that lets ``models.instructions.instruction_spans`` skip a text: it must
let through every text any of the four cue families could match, whatever their wording.

Each family's alternatives are expanded from the patterns themselves (optional parts both
ways, each character class by a member), so a cue added to a pattern and not to the word
lists fails here."""

from __future__ import annotations

import itertools
import re
import string
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import instructions

FAMILIES = [*instructions._LOWER_FAMILIES[:3], instructions._REQUEST]
_CLASS_SAMPLES = {
    sre.CATEGORY_WORD: "a",
    sre.CATEGORY_DIGIT: "0",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_WORD: " ",
}


def _expand(items: Any) -> list[str]:
    """Strings the parsed pattern ``items`` matches: each branch, each optional part taken
    and left, repeats once or twice."""
    results = [""]
    for op, av in items:
        if op is sre.LITERAL:
            options = [chr(av)]
        elif op is sre.AT:
            continue
        elif op is sre.SUBPATTERN:
            options = _expand(av[-1])
        elif op is sre.BRANCH:
            options = [s for branch in av[1] for s in _expand(branch)]
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = av
            body = _expand(inner)
            counts = sorted({low, min(low + 1, high), min(max(low, 2), high)})
            options = [
                "".join(parts) for n in counts for parts in itertools.product(body, repeat=n)
            ]
        elif op is sre.IN:
            options = []
            for kind, value in av:
                if kind is sre.LITERAL:
                    options.append(chr(value))
                elif kind is sre.RANGE:
                    options.append(chr(value[0]))
                elif kind is sre.CATEGORY:
                    options.append(_CLASS_SAMPLES[value])
        else:
            raise AssertionError(f"no expansion for {op}")
        results = [a + b for a in results for b in options]
    return results


def _cue_texts() -> list[str]:
    texts = []
    for pattern in FAMILIES:
        for cue in _expand(sre_parse.parse(pattern.pattern, pattern.flags)):
            # A cue ending in a space ("first, ") is followed by a word.
            texts.append(f"zz {cue}zz." if cue.endswith(" ") else f"zz {cue} zz.")
    return texts


CUES = _cue_texts()


def test_the_expansion_covers_every_family() -> None:
    assert len(CUES) > 100
    for text in CUES:
        assert any(p.search(text) for p in FAMILIES), text  # what the patterns match


@pytest.mark.parametrize("text", CUES)
def test_every_cue_gets_past_the_word_check(text: str) -> None:
    assert instructions._may_address(text.lower()), text


def test_texts_without_a_cue_are_skipped() -> None:
    for text in [
        "2 invoices for Blue Sun in 2026-10: in_4o6v5ZvYLbJW, in_84775",
        '{"invoice_id": "in_4o6v5ZvYLbJW", "total": "211.00", "currency": "USD"}',
        "Saved reports/churn-smb-2026-10.md",
        "Draft saved (drf_69836).",
    ]:
        assert not instructions._may_address(text.lower())
        assert instructions.instruction_spans(text) == []


_WORDS = sorted({w for text in CUES for w in re.findall(r"[a-z']+", text)} | {"the", "data"})


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_WORDS),
            st.text(alphabet=string.ascii_letters + string.digits + " .,:;!?'-@\n", max_size=8),
        ),
        max_size=14,
    )
)
def test_no_text_a_family_matches_is_skipped(parts: list[str]) -> None:
    text = " ".join(parts)
    lowered = text.lower()
    if any(p.search(lowered) for p in FAMILIES):
        assert instructions._may_address(lowered), text
