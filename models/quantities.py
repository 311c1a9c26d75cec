"""The quantities an intent names: how many records a task may need."""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Final

from models import text, values


def numbers_in(body: str, tokens: list[str] | None = None) -> list[float]:
    """Quantities an intent names, in digits or as small number words. ``tokens``: the
    body's ``text.words``, where the caller has them."""
    found: list[float] = []
    # Standalone numbers only: not ids (doc-679327), dates (2026-05-01), times or years;
    # nor sums of money, account numbers or phone numbers, which count no records. Most
    # intents have no digit at all: for them only the number words are looked for.
    if text.has_digit(body):
        body = _NOT_COUNTS.sub(" ", body)
        tokens = None  # the words of what is left
        _numbers_in_digits(body, found)
    for token in text.words(body) if tokens is None else tokens:
        if token in _NUMBER_WORDS:
            found.append(_NUMBER_WORDS[token])
    return found


def _numbers_in_digits(body: str, found: list[float]) -> None:
    words = [(m.start(), m.end()) for m in _NONSPACE.finditer(body)]
    starts = [start for start, _ in words]
    lefts: dict[int, int] = {}
    for match in _NUMBER.finditer(body):
        n = match.group(0)
        if (len(n) == 4 and n.startswith(("19", "20"))) or (n[0] == "0" and len(n) > 1):
            continue  # a year; a zero-padded code (a postal code, an extension)
        lead = _lead_before(body, words, starts, lefts, match.start())
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


def _lead_before(
    body: str, words: list[tuple[int, int]], starts: list[int], lefts: dict[int, int], at: int
) -> str:
    """The word before a number at ``at``, without brackets or quotes and lower-cased, as
    ``body[:at].split()[-1].strip(_MARKS).lower()`` gives it ("" if none, or if longer
    than any word that leads a count). Found among ``words`` (the spans of ``body``'s
    words, with their ``starts``; ``lefts`` remembers where each stripped word begins)
    rather than by splitting each number's prefix: an intent of many numbers in one long
    word ("(1(1(1…") took time growing with its square."""
    index = bisect_right(starts, at - 1) - 1
    if index < 0:
        return ""
    start, end = words[index]
    left = lefts.get(index)
    if left is None:
        left = start
        while left < end and body[left] in _MARKS:
            left += 1
        lefts[index] = left
    right = min(end, at)
    while right > left and body[right - 1] in _MARKS:
        right -= 1
    return body[left:right].lower() if right - left <= _LEAD_MAX else ""


_NONSPACE: Final = re.compile(r"\S+")
_NUMBER: Final = re.compile(r"(?<![\w\-/:.#])\d[\d,]*(?:\.\d+)?(?![\w\-/:])")
_NEXT_WORD: Final = re.compile(r"\s+([A-Za-z]+)")
_MARKS: Final = frozenset("([{\"'")  # stripped from the word before a number
_COUNT_LEADS: Final = text.word_set(
    "last top first latest recent newest oldest next past most least about over under "
    "around only just limit max maximum up all every"
)
_LEAD_MAX: Final = max(map(len, _COUNT_LEADS))

# Spans of an intent whose digits are no quantity of records. Each run of digits is read at
# most 40 characters ahead, and a numbered line's indent is its own line's: a long run of
# digits (or of blank lines) was read to its end from each of its characters.
_NOT_COUNTS: Final = re.compile(
    rf"{text.MONEY.pattern}[\d,.]*|{values.IBAN.pattern}|{values.PHONE.pattern}|"
    r"\d[\d,]{0,40}\.\d+|^[^\S\n]*\d+[.)]\s",
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
