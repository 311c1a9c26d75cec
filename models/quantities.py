"""The quantities an intent names: how many records a task may need."""

from __future__ import annotations

import re
from typing import Final

from models import text


def numbers_in(body: str) -> list[float]:
    """Quantities an intent names, in digits or as small number words."""
    # Standalone numbers only: not ids (doc-679327), dates (2026-05-01), times or years;
    # nor sums of money, account numbers or phone numbers, which count no records.
    if any(c.isdigit() for c in body):
        body = _NOT_COUNTS.sub(" ", body)
    found = [
        float(n.replace(",", ""))
        for n in re.findall(r"(?<![\w\-/:.#])\d[\d,]*(?:\.\d+)?(?![\w\-/:])", body)
        if not (len(n) == 4 and n.startswith(("19", "20")))
    ]
    for token in text.words(body):
        if token in _NUMBER_WORDS:
            found.append(_NUMBER_WORDS[token])
    return found


# Spans of an intent whose digits are no quantity of records.
_NOT_COUNTS: Final = re.compile(
    rf"{text.MONEY.pattern}[\d,.]*|{text.IBAN.pattern}|{text.PHONE.pattern}|"
    r"\d[\d,]*\.\d+|^\s*\d+[.)]\s",
    re.I | re.M,
)

_NUMBER_WORDS: Final[dict[str, float]] = {
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "dozen": 12,
    "twenty": 20,
    "fifty": 50,
    "hundred": 100,
}
