"""The addressable values a text carries: addresses, URLs, phone numbers, IBANs, ids,
handles. What a result gave the agent, what an intent named, what an argument sends
somewhere, compared in one normal form (lower case)."""

from __future__ import annotations

import re
from typing import Final

EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_DOMAIN: Final = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_LOCAL_MARKS: Final = frozenset("_.+-")


def emails_in(text: str) -> list[str]:
    """What ``EMAIL.findall(text)`` gives, in time linear in the text. The pattern tries
    every position of a run of word characters and reads the run to its end each time
    before failing: a result carrying an "@" and a long token (base64, a minified page)
    took seconds. An address's local part is the whole run of word characters and marks
    (. + -) that ends at its "@" (the "@" is no part of a run), so each "@" is looked at
    once: the run back from it, and the domain after it."""
    found: list[str] = []
    pos = 0
    at = text.find("@")
    while at >= 0:
        start = at
        while start > pos and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_MARKS):
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain is not None:
            found.append(text[start : domain.end()])
            pos = domain.end()
            at = text.find("@", pos)
        else:
            at = text.find("@", at + 1)
    return found


URL: Final = re.compile(r"(?:https?|ftp)://[^\s\"'<>)\]]+|\bwww\.[^\s\"'<>)\]]+")
# "\b[A-Z]{2}\d{2}...": the word boundary is checked after the first letter (what precedes it
# is no word character), so that the pattern starts with a letter and the scan skips ahead
# to the capitals instead of trying every position.
IBAN: Final[re.Pattern[str]] = re.compile(
    r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"
)
# What ``values_in`` makes of an IBAN in an ASCII text: lower case, its spaces taken out, so
# not always a part of the text it came from (every other value is).
IBAN_VALUE: Final = re.compile(r"[a-z]{2}[0-9]{2}[a-z0-9]{8,32}")
PHONE: Final[re.Pattern[str]] = re.compile(r"\+\d[\d -]{7,}\d")
# Ids, handles, channels, paths: tokens with a digit, a separator or a sigil in them.
ID_LIKE: Final = re.compile(r"(?<![\w.@+-])[#@]?[A-Za-z0-9][\w.:/-]*\w")
# The same patterns for an ASCII text, where ``\w`` means the same in either mode: Unicode
# mode asks the character database about every character (most results are ASCII).
_ASCII_ID_LIKE: Final = re.compile(ID_LIKE.pattern, re.ASCII)
_ASCII_IBAN: Final = re.compile(IBAN.pattern, re.ASCII)
_ASCII_DIGIT: Final = re.compile(r"\d", re.ASCII)


def values_in(text: str) -> set[str]:
    """The addressable values a text carries (addresses, URLs, account numbers, ids),
    normalised to lower case."""
    found: set[str] = set()
    if not text:
        return found
    # Each pattern only where its mark is: most results carry no address at all.
    if "@" in text:
        found.update(m.lower().rstrip(".,;") for m in emails_in(text))
    if "://" in text or "www." in text:
        found.update(m.lower().rstrip(".,;") for m in URL.findall(text))
    if "+" in text:
        found.update(m.lower().rstrip(".,;") for m in PHONE.findall(text))
    plain = text.isascii()
    ibans = (_ASCII_IBAN if plain else IBAN).findall(text)
    found.update(m.replace(" ", "").lower() for m in ibans)
    isdigit = str.isdigit
    for token in (_ASCII_ID_LIKE if plain else ID_LIKE).findall(text):
        # A plain word, by far the most common token, is no id.
        if len(token) < 4 or token.isalpha() or token.find("@", 1) >= 0:
            continue
        if token[0] in "#@":
            found.add(token.lower())
        elif token.isdigit():
            if len(token) >= 6:  # a long number; a short one is a count, a year, a code
                found.add(token)
        # Digits with letters or marks (``str.isdigit`` says what a digit is, as ASCII
        # mode's "\d" does in an ASCII text).
        elif _ASCII_DIGIT.search(token) is not None if plain else any(map(isdigit, token)):
            found.add(token.lower())
    return found
