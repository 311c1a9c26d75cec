"""What an intent asks for: the kinds of action its words name, read as a person writes
them (a verb at a clause's start or after "please", a noun after "the", an idiom, a
question), not as a tool's name is read (``models.text.name_kind``)."""

from __future__ import annotations

import re
from typing import Final

from models import text, values
from models.text import word_set

# In a person's words, more nouns that read as verbs: "the pricing update", "purchase order"
# (a tool's name keeps them as verbs: "page_update").
_INTENT_AMBIGUOUS: Final = text.AMBIGUOUS | word_set("update purchase")
_WH: Final = word_set("what which who whom whose when where why how")
_QUESTION_LEAD: Final = _WH | word_set("is are was were does did do has have")
_VERB_LEAD: Final = word_set(
    "please and then to also can could would you kindly just now first next finally so ok "
    "basically pls quickly go i we me us help helping"
)
_DETERMINERS: Final = word_set("the a an my your our their its his her this that these those")
# Objects that make an action word an idiom, not an act ("clear my backlog": get through
# the work; "clear my head").
_FIGURATIVE: Final = word_set("backlog backlogs head air")
# Things opened by changing their state, not by reading them ("open the loading bay door").
_OPENINGS: Final = word_set(
    "door doors gate gates garage lock locks barrier barriers shutter shutters window windows "
    "valve valves hatch entrance"
)
# A token with a digit in it: an id, a date, a time, a code.
# From the start of a run only: tried at each character of a long run without a digit, the
# pattern read the run to its end each time.
_ID_TOKEN: Final = re.compile(r"(?<![\w./:-])[\w./:-]*\d[\w./:-]*")
# A word in -ing right before an id names the thing the id is ("booking XT2YDD", "meeting
# 4471", "listing L-209"), not an act. Read before lower-casing: a code of capitals is an id.
_NAMED_BY_ID: Final = re.compile(r"\b[A-Za-z]{3,}ing(?=\s+#?(?:[\w./:-]*\d|[A-Z]{5,}\b))")
_NAME_TOKEN: Final = re.compile(r"\b\w+(?:[_.]\w+)+\b|\b\w+(?:-\w+){2,}\b")
_CLAUSES: Final = re.compile(r"[.,;:!?\n]|\s[-–—]+\s|\band\b|\bthen\b")


def intent_kinds(intent: str) -> set[str]:
    """The kinds of action an intent asks for: its unambiguous action words anywhere, and
    the ambiguous ones where a verb stands (a clause's start, after "please", "and", ...)."""
    asked: set[str] = set()
    for clause in _CLAUSES.split(_NAMED_BY_ID.sub(" ", intent).lower()):
        # An id's parts are no verbs ("lck-loading-bay-29" asks for no load).
        if text.has_digit(clause):
            clause = _ID_TOKEN.sub(" ", clause)
        # Nor are a name's ("logs_tail", "bookings.cancel", "new-checkout-flow").
        if "_" in clause or "." in clause or "-" in clause:
            clause = _NAME_TOKEN.sub(" ", clause)
        tokens = text.lower_words(clause)
        # "could you please when does my flight leave": a question behind a polite lead.
        lead = next((word for word in tokens if word not in _VERB_LEAD), "")
        if tokens and (tokens[0] in _QUESTION_LEAD or lead in _WH):
            asked.add(text.READ)  # "what did the clinician write": a question asks to read
            continue
        for i, word in enumerate(tokens):
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if word in ("tell", "let") and following not in ("me", "us", "myself"):
                asked.add(text.SEND)  # "tell #ops that ...", "let the team know"
            if word == "confirm" and following in ("in", "to", "with", "on"):
                asked.add(text.SEND)  # "confirm in channel"; not "confirm once complete"
            if word == "open" and following in ("a", "an", "new"):
                asked.add(text.WRITE)  # "open a PR", "open a ticket": a creation
            elif word == "open" and following in _DETERMINERS:
                # "open the contract" reads it; "open the garage door" changes a thing's state.
                things = tokens[i + 2 : i + 5]
                asked.add(text.WRITE if _OPENINGS.intersection(things) else text.READ)
            if word == "get" and "signed" in tokens[i + 1 : i + 6]:
                asked.add(text.SEND)  # "get CTR-7 signed by ...": an envelope sent to sign
            if word == "roll" and ("back" in tokens[i + 1 : i + 6] or following == "out"):
                # "roll back", "roll search-gateway back one release", "roll out"
                asked.add(text.WRITE if following == "out" else text.EXEC)
            kind = text.kind_of(word)
            if kind is None:
                continue
            if following in ("me", "us", "myself") and word in ("give", "send", "show", "get"):
                asked.add(text.READ)  # "give me the agenda", "send me a summary": report back
                continue
            ambiguous = (
                word in _INTENT_AMBIGUOUS
                or word[:-1] in _INTENT_AMBIGUOUS
                or word[:-2] in _INTENT_AMBIGUOUS
                # "in signing", "lambda/billing": the -ing of a noun-or-verb ("booking",
                # "logging") is as ambiguous as the word.
                or (
                    word.endswith("ing")
                    and (word[:-3] in _INTENT_AMBIGUOUS or word[:-4] in _INTENT_AMBIGUOUS)
                )
            )
            previous = tokens[i - 1] if i else ""
            obj = tokens[i + 2] if following in _DETERMINERS and i + 2 < len(tokens) else following
            if obj in _FIGURATIVE:
                continue
            if previous in _DETERMINERS:
                continue  # "my booking", "the release notes": a thing, not an act
            if not ambiguous or not previous or previous in _VERB_LEAD:
                asked.add(kind)
            if word in text.WRITE_OR_DELETE:
                asked.update((text.WRITE, text.DELETE))
    lowered = intent.lower()
    if "export" in lowered and text.READ in asked:
        asked.add(text.WRITE)  # an export is written somewhere (a file, a bucket)
    if text.SEND in asked:
        asked.add(text.WRITE)  # a message sent is also one written (an RSVP, a reply in a thread)
    if text.SEND in asked and (text.MONEY.search(intent) or values.IBAN.search(intent.upper())):
        asked.add(text.PAY)  # "send 40 EUR to ...": a payment
    if asked and ("access" in lowered or "permission" in lowered):
        asked.update((text.EXEC, text.SEND))  # "give Ana comment access": a grant, a share
    # A generic executor (run a statement, a command) serves any change the intent asks for.
    if asked & {text.WRITE, text.DELETE}:
        asked.add(text.EXEC)
    return asked
