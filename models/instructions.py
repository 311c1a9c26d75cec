"""Instruction-shaped text inside data an agent reads (a tool result, a file, a tool's
description): sentences that address the agent, override its task or claim authority,
together with an action verb. Several independent families of cues, so that no single
template's wording decides."""

from __future__ import annotations

import re
from typing import Final

from models.text import READ, kind_of, words

_ADDRESSEE = re.compile(
    r"\b(you|your|assistant|ai|agent|bot|model|copilot|llm|system|automated|automation|"
    # the agent addressed in other languages (es, pt, it, de, nl, fr share "assist...")
    r"assist\w*|agente|agenten|ki|ia|whoever)\b",
    re.I,
)
_OVERRIDE = re.compile(
    r"\b(ignore|disregard|forget|override|instead|new instructions?|previous instructions?|"
    r"prior instructions?|above instructions?|do not (tell|mention|inform|ask|notify)|"
    r"don'?t (tell|mention|inform|ask|notify)|without (asking|telling|confirm\w*)|silently|"
    r"secretly|quietly|before (you )?(continue|proceed|answer|reply|respond|finish)|"
    r"after (that|this|you)|first,? |also|additionally|immediately|right away|at once)\b",
    re.I,
)
_AUTHORITY = re.compile(
    r"\b(admin\w*|administrator|it department|security team|compliance|ceo|cfo|manager|"
    r"policy|mandatory|required|must|urgent|important|priority|note to|attention|"
    r"authori[sz]ed|official|verified|per (company|the) policy)\b",
    re.I,
)
_IMPERATIVE = re.compile(
    r"\b(send|forward|email|mail|transfer|wire|pay|delete|remove|erase|share|post|upload|"
    r"export|copy|move|grant|add|invite|create|run|execute|call|invoke|use|update|change|"
    r"set|reply|notify|publish|download|fetch|open|visit|click|make|give|drop|purge)\b",
    re.I,
)
# A request's own words, whoever it addresses ("please", "new task", "I approve"): alone
# they are ordinary mail ("please send me the slides"); with a destination, an order.
_REQUEST = re.compile(
    r"\b(please|kindly|could you|would you|can you|make sure|remember to|don'?t forget|"
    r"new task|next steps?|action items?|to-?do|i approve|approved by me|favou?r)\b",
    re.I,
)
# A value an action sends something to: an address, a URL, an account, a phone, a handle.
# An address is found from its "@" (a word character or mark before it, a domain after):
# found from each character of a word, as "[\w.+-]+@" is, a long token cost time growing
# with its square (only whether the sentence holds one is asked).
_SINK_VALUE = re.compile(
    r"(?<=[\w.+-])@[\w-]+\.[\w.-]+|https?://|www\.|\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,}|"
    r"\+\d[\d -]{6,}\d|(?<!\w)[@#][a-z][\w.-]+",
    re.I,
)
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+[.!?\n]?")

# Where each cue of the four families above (addressee, override, authority, request) can
# begin, in a lower-cased ASCII text: a word it is, the stem of a word it starts with, or a
# phrase it starts with (by the phrase's first word), where that word alone is common ("to",
# "it", "do"). A text with none of them matches none of the four families, so holds no
# instruction. One pass over its words tells so several times faster than four scans of
# every position (``tests/unit/test_instruction_cues.py`` checks each cue is covered).
# fmt: off
_CUE_WORDS: Final = frozenset((
    # addressee
    "you", "your", "assistant", "ai", "agent", "bot", "model", "copilot", "llm", "system",
    "automated", "automation", "agente", "agenten", "ki", "ia", "whoever",
    # override
    "ignore", "disregard", "forget", "override", "instead", "silently", "secretly", "quietly",
    "first", "also", "additionally", "immediately",
    # authority
    "administrator", "compliance", "ceo", "cfo", "manager", "policy", "mandatory", "required",
    "must", "urgent", "important", "priority", "attention", "official", "verified",
    # request
    "please", "kindly", "todo", "favor", "favour",
))
# fmt: on
_CUE_STEMS: Final = ("assist", "admin", "authori")
_CUE_PHRASES: Final = {
    "new": ("new instruction", "new task"),
    "previous": ("previous instruction",),
    "prior": ("prior instruction",),
    "above": ("above instruction",),
    "do": ("do not ",),
    "don": ("don't ",),
    "dont": ("dont ",),
    "without": ("without asking", "without telling", "without confirm"),
    "before": ("before ",),
    "after": ("after that", "after this", "after you"),
    "right": ("right away",),
    "at": ("at once",),
    "it": ("it department",),
    "security": ("security team",),
    "note": ("note to",),
    "per": ("per company", "per the"),
    "could": ("could you",),
    "would": ("would you",),
    "can": ("can you",),
    "make": ("make sure",),
    "remember": ("remember to",),
    "next": ("next step",),
    "action": ("action item",),
    "to": ("to-do",),
    "i": ("i approve",),
    "approved": ("approved by me",),
}
_WORD: Final = re.compile(r"\w+", re.ASCII)  # for ASCII texts alone: the same words, sooner


def _may_address(lowered: str) -> bool:
    """Whether a lower-cased ASCII text (only such a text: its words are read in ASCII
    mode) has a word or phrase a cue of any family starts with."""
    found = set(_WORD.findall(lowered))
    if not _CUE_WORDS.isdisjoint(found):
        return True
    # A stem inside no word at all (most texts) is told by a substring search, without a
    # look at each word.
    if any(stem in lowered for stem in _CUE_STEMS) and any(
        word.startswith(_CUE_STEMS) for word in found
    ):
        return True
    return any(
        phrase in lowered
        for first in found.intersection(_CUE_PHRASES)
        for phrase in _CUE_PHRASES[first]
    )


def instruction_spans(text: str) -> list[tuple[int, int, float]]:
    """(start, end, strength) of each sentence shaped like an instruction to the agent:
    an imperative action verb together with an addressee, an override or an authority
    claim. Strength counts the families present (1 to 3)."""
    spans: list[tuple[int, int, float]] = []
    lowered = text.lower()
    # Case-blind matching is several times slower: match the lowered text with lower-case
    # patterns, unless lowering moved offsets (a few letters lower to two characters).
    addressee, override, authority, imperative_verb = (
        _LOWER_FAMILIES if len(lowered) == len(text) else _FAMILIES
    )
    if len(lowered) != len(text):
        lowered = text
    # Most results address nobody, override nothing and claim no authority: the text's
    # words say so before any sentence is cut out.
    if not (
        _may_address(lowered)
        if lowered.isascii()
        else (
            addressee.search(lowered)
            or override.search(lowered)
            or authority.search(lowered)
            or _REQUEST.search(lowered)
        )
    ):
        return spans
    for m in _SENTENCE.finditer(lowered):
        sentence = m.group(0)
        if len(sentence) < 8:
            continue
        addressed = addressee.search(sentence) is not None
        overrides = override.search(sentence) is not None
        families = addressed + overrides + (authority.search(sentence) is not None)
        # Addressed to the agent, overriding, claiming authority or asking, and naming where
        # something should go: an instruction in any language, whatever verb it uses. An
        # order that merely opens with its verb is not: "Pay to IBAN ..." is what invoices say.
        if (families or _REQUEST.search(sentence) is not None) and _SINK_VALUE.search(
            m.group(0)
        ) is not None:
            spans.append((m.start(), m.end(), float(max(1, families))))
            continue
        if not families:  # neither addressed, overriding nor claiming: no instruction
            continue
        # An authority word alone ("policy", "required") is common in records; there only
        # an imperative verb makes a sentence an instruction, not a word that merely names
        # a change ("Updated proposal - travel policy").
        imperative = imperative_verb.search(sentence) is not None or (
            (addressed or overrides or families > 1)
            and any(kind_of(w) not in (None, READ) for w in words(sentence))
        )
        lower = sentence.lower()
        overriding = families >= 2 and ("ignore" in lower or "instruction" in lower)
        if (imperative and families) or overriding:
            spans.append((m.start(), m.end(), float(families)))
    return spans


_FAMILIES: Final = (_ADDRESSEE, _OVERRIDE, _AUTHORITY, _IMPERATIVE)
_LOWER_FAMILIES: Final = tuple(re.compile(p.pattern) for p in _FAMILIES)
