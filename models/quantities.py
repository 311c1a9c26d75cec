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
    found: list[float] = []
    for match in _NUMBER.finditer(body):
        n = match.group(0)
        if (len(n) == 4 and n.startswith(("19", "20"))) or (n[0] == "0" and len(n) > 1):
            continue  # a year; a zero-padded code (a postal code, an extension)
        before = body[: match.start()].split()[-1:]
        lead = before[0].strip("([{\"'").lower() if before else ""
        after = _NEXT_WORD.match(body, match.end())
        if (
            len(n) >= 6
            and n.isdigit()
            and not (lead in _COUNT_LEADS or (after and after.group(1).endswith("s")))
        ):
            continue  # an id ("row 639019120"), not a count ("all 120000 rows")
        # A count counts something ("the last 50 messages", "all 900 SKUs", "top 10", "every
        # transaction (350)"): not
        # a house number ("73 Elm Street"), a floor, a setting ("concurrency to 12").
        aside = body[match.start() - 1 : match.start()] == "(" and body[match.end() :][:1] == ")"
        if lead in _COUNT_LEADS or aside or (after and not after.group(1).istitle()):
            found.append(float(n.replace(",", "")))
    for token in text.words(body):
        if token in _NUMBER_WORDS:
            found.append(_NUMBER_WORDS[token])
    return found


_NUMBER: Final = re.compile(r"(?<![\w\-/:.#])\d[\d,]*(?:\.\d+)?(?![\w\-/:])")
_NEXT_WORD: Final = re.compile(r"\s+([A-Za-z]+)")
_COUNT_LEADS: Final = text.word_set(
    "last top first latest recent newest oldest next past most least about over under "
    "around only just limit max maximum up all every"
)

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
