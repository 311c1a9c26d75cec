"""The context a scorer keeps for one session (the concrete ``SessionTrail``): the intent and
what it asks for, the tools each server listed and how each is classed, the values earlier
results carried (and which of them sat next to instruction-shaped text), and the calls made.

Everything that does not change per call is worked out once here: the intent's words,
kinds and values when the intent is set, a tool's access class and description words when
its server lists it, a result's instruction spans when the trail is next looked at, and its
values when a call first asks whether a result carried a value of the call's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar

from models import asks, instructions, quantities, text, values
from models.tools import INJECTION_WINDOW, ToolProfile, listed_tool, look_alike, unlisted_tool
from models.trail import CallSignature, DeclaredIntent, ToolInfo

# Earlier results kept for provenance look-ups, in characters (the newest win).
RESULT_MEMORY = 200_000
_NONE: frozenset[str] = frozenset()  # the empty word set a new trail starts with
# The empty map a trail's maps start as, shared by every trail until it first writes one
# (``owned``): most sessions never change a tool, page, or ask for a count of records.
_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_K = TypeVar("_K")
_V = TypeVar("_V")


def _empty() -> Mapping[Any, Any]:
    return _EMPTY


def owned(found: Mapping[_K, _V]) -> dict[_K, _V]:
    """A trail's map to write in: itself once written, a new one while it is the shared
    empty map."""
    return found if isinstance(found, dict) else {}


def grown(found: Set[str], more: Iterable[str]) -> Set[str]:
    """A trail's set with ``more`` added. Every trail starts with the one empty set, and
    gets a set of its own only when something is added: a third to half of all sessions
    never add to each (216 bytes an empty set)."""
    if isinstance(found, set):
        found.update(more)
        return found
    added = set(found)
    added.update(more)
    return added if added else _NONE


def planted_window(text_: str, start: int, end: int) -> str:
    """The text an instruction-shaped sentence at ``start:end`` plants values in: at most
    INJECTION_WINDOW characters either side, kept to its own lines (a record's other lines
    are data the sentence sits beside, not what it asks for), and the next line where the
    sentence ends in a colon ("send the export to:")."""
    line_start = text_.rfind("\n", 0, start) + 1
    line_end = text_.find("\n", max(start, end - 1))  # a sentence may end with its newline
    if line_end < 0:
        line_end = len(text_)
    if text_[start:line_end].rstrip().endswith(":"):
        following = text_.find("\n", line_end + 1)
        line_end = len(text_) if following < 0 else following
    return text_[max(line_start, start - INJECTION_WINDOW) : min(line_end, end + INJECTION_WINDOW)]


@dataclass(frozen=True, slots=True)
class IntentReading:
    """What an intent's text asks for, read once per distinct text (many sessions share
    one: the same task asked again, the same client's template)."""

    lower: str
    words: frozenset[str]
    kinds: frozenset[str]
    stems: frozenset[str]  # first five letters of each intent word
    values: frozenset[str]
    identifiers: frozenset[str]  # tokens shaped like a tool's name, lower-cased
    volume: float  # the largest quantity the intent names, 0 if none
    bulk: bool


def _stems(words: frozenset[str]) -> frozenset[str]:
    """The first five letters of each word, and of its plural or singular where the
    word is shorter ("door code" speaks of access_codes, "the clips" of cameras.clip)."""
    stems = {w[:5] for w in words}
    stems.update(w + "s" for w in words if len(w) == 4)
    stems.update(w[:-1] for w in words if len(w) == 5 and w.endswith("s"))
    return frozenset(stems)


@lru_cache(maxsize=4096)
def read_intent(body: str) -> IntentReading:
    tokens = text.words(body)  # read once for the content words and the number words
    words = frozenset(text.content_words(body, tokens))
    numbers = quantities.numbers_in(body, tokens)
    return IntentReading(
        lower=body.lower(),
        words=words,
        kinds=frozenset(asks.intent_kinds(body)),
        stems=_stems(words),
        values=frozenset(values.values_in(body)),
        identifiers=text.identifiers_in(body),
        volume=max(numbers) if numbers else 0.0,
        bulk=bool(text.BULK_WORDS.intersection(words)),
    )


# Sessions are short and many share an intent and a catalogue: a tool's relevance to an
# intent is worked out once for all of them.
@lru_cache(maxsize=65_536)
def _relevance(
    stems: frozenset[str],
    kinds: frozenset[str],
    name_words: tuple[str, ...],
    words: frozenset[str],
    kind: str,
) -> float:
    # "issue_refund" is about refunds: a generic verb says nothing of the subject.
    named = [w for w in name_words if w not in text.STOPWORDS and w not in text.GENERIC_VERBS]
    name_hit = sum(1 for w in named if w[:5] in stems) / len(named) if named else 0.0
    desc_hit = sum(1 for w in words if len(w) > 2 and w[:5] in stems)
    value = min(1.0, 0.6 * name_hit + 0.1 * desc_hit)
    if kind != text.READ and kind in kinds:
        value = max(value, 0.5)
    return value


@dataclass(slots=True, init=False)
class ResultReading:
    """What one result's text carries, read once per distinct text (an error message, an
    empty answer, the same record fetched again: many results are alike)."""

    lower: str
    # As it came, for ``value_set`` ("" where read at once); kept after: a short text is its
    # cache entry's key anyway, and no second reader (a restore thread) finds it gone.
    text: str
    values: frozenset[str] | None  # None until ``value_set`` reads them
    strongest: float  # the strongest instruction-shaped sentence in it, 0 if none
    windows: tuple[str, ...]  # lower-cased, the text around each such sentence
    injected_values: frozenset[str]  # the values of those windows

    def __init__(  # written out, and not frozen: compiled, it runs natively (see models.trail)
        self,
        lower: str,
        text: str,
        values: frozenset[str] | None,
        strongest: float,
        windows: tuple[str, ...],
        injected_values: frozenset[str],
    ) -> None:
        self.lower = lower
        self.text = text
        self.values = values
        self.strongest = strongest
        self.windows = windows
        self.injected_values = injected_values

    def value_set(self) -> frozenset[str]:
        """The addressable values the text carries (``values.values_in``), read on first
        asking: most results' values are never asked for (see ``Trail.has_result_value``)."""
        found = self.values
        if found is None:
            found = self.values = frozenset(values.values_in(self.text))
        return found


def read_result(text_: str) -> ResultReading:
    """The reading of a result's text (remembered for short texts)."""
    if len(text_) <= RESULT_CACHE_CHARS:
        return _read_short_result(text_)
    return _read_result(text_)


def _read_result(text_: str) -> ResultReading:
    spans = instructions.instruction_spans(text_)
    windows = [planted_window(text_, start, end) for start, end, _ in spans]
    injected: set[str] = set()
    for window in windows:
        injected.update(values.values_in(window))
    # An ASCII text's values are read when first asked for: each is then a part of its
    # lower-cased text (``Trail.has_result_value``). Lower-casing another text may change
    # its length or a letter by its neighbours (a final sigma): its values are read now.
    lazy = text_.isascii()
    return ResultReading(
        lower=text_.lower(),
        text=text_ if lazy else "",
        values=None if lazy else frozenset(values.values_in(text_)),
        strongest=max((s for _, _, s in spans), default=0.0),
        windows=tuple(window.lower() for window in windows),
        injected_values=frozenset(injected),
    )


# What a trail holds of results whose values nobody asked for yet: beyond it, they are read.
_UNVALUED_MAX = 64
_UNVALUED_CHARS = 65_536

# Texts up to this long are remembered (at most 4,096 of them): a long one is rarely seen
# twice, and would hold memory.
RESULT_CACHE_CHARS = 2048
_read_short_result = lru_cache(maxsize=4096)(_read_result)


def forget_readings() -> None:
    """Empty the readings kept across sessions (intents, short results, tools' relevance to
    an intent): for a bench that times reading them, as a fresh worker does."""
    read_intent.cache_clear()
    _read_short_result.cache_clear()
    _relevance.cache_clear()


@dataclass(slots=True, init=False)
class Trail:
    """One session's context (implements ``models.trail.SessionTrail``)."""

    intent: DeclaredIntent | None = None
    intent_lower: str = ""
    intent_words: frozenset[str] = frozenset()
    intent_kinds: frozenset[str] = frozenset()
    intent_values: frozenset[str] = frozenset()
    intent_identifiers: frozenset[str] = frozenset()
    # The listed tools the intent's text names ("Tools: bill_get, payment_run_create"):
    # a list the person gave in words, not a declaration, so evidence and not a bound.
    named_tools: frozenset[str] = frozenset()
    intent_stems: frozenset[str] = frozenset()  # first five letters of each intent word
    intent_volume: float = 0.0  # the largest quantity the intent names, 0 if none
    intent_bulk: bool = False
    agent: str = ""
    delegated: bool = False
    tools: dict[str, ToolProfile] = field(default_factory=dict)  # by name, latest listing
    # A Mapping or Set field starts as the shared empty one (``_EMPTY``, ``_NONE``) and is
    # written only through ``owned`` or ``grown``.
    listed: Mapping[str, dict[str, tuple[str, str, str]]] = field(default_factory=_empty)
    listed_names: Set[str] = _NONE  # every tool any listing showed
    # What changed under the running session, by tool name and by "server\0tool".
    changed: Mapping[str, str] = field(default_factory=_empty)
    servers: Mapping[str, str] = field(default_factory=_empty)  # tool name -> the server listing it
    results_lower: str = ""
    injected_lower: str = ""  # the windows around instruction-shaped sentences
    # The values of the results read, as far as asked for: a result's values are read when
    # a value is first looked for in its text (``has_result_value``); till then its reading
    # waits in ``unvalued``.
    result_values: Set[str] = _NONE
    unvalued: list[ResultReading] | None = None
    unvalued_chars: int = 0
    injected_values: frozenset[str] = frozenset()
    instruction_strength: float = 0.0  # the strongest instruction seen in a result
    last_result_instruction: float = 0.0  # in the latest result
    used_values: Set[str] = _NONE  # values earlier calls carried
    named_keys: Set[str] = _NONE  # arguments that carried the task's items
    call_count: int = 0
    tool_counts: dict[str, int] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)
    call_times: list[float] = field(default_factory=list)  # epoch seconds, recent only
    # Identical calls made so far, by ``models.calls.call_signature``.
    signatures: dict[CallSignature, int] = field(default_factory=dict)
    last_error: bool = False  # the latest result was an error (a retry is then ordinary)
    pages: Mapping[str, int] = field(default_factory=_empty)  # per tool, calls that paged
    records: Mapping[str, float] = field(default_factory=_empty)  # per tool, records asked for
    relevance_cache: dict[str, float] = field(default_factory=dict)
    # Results seen and not read yet (``read_results``), with their length in characters.
    # None until the first (most sessions' results are all read by the next call).
    unread: list[tuple[str, bool]] | None = None
    unread_chars: int = 0

    def __init__(self) -> None:
        # Written out (each field as declared above) so that compiled it runs natively:
        # mypyc leaves the ``__init__`` that ``dataclasses`` generates to the interpreter.
        # A trail is a session's state, always made empty: ``dataclasses.replace`` does not
        # apply to it.
        self.intent = None
        self.intent_lower = ""
        self.intent_words = _NONE
        self.intent_kinds = _NONE
        self.intent_values = _NONE
        self.intent_identifiers = _NONE
        self.named_tools = _NONE
        self.intent_stems = _NONE
        self.intent_volume = 0.0
        self.intent_bulk = False
        self.agent = ""
        self.delegated = False
        self.tools = {}
        self.listed = _EMPTY
        self.listed_names = _NONE
        self.changed = _EMPTY
        self.servers = _EMPTY
        self.results_lower = ""
        self.injected_lower = ""
        self.result_values = _NONE
        self.unvalued = None
        self.unvalued_chars = 0
        self.injected_values = _NONE
        self.instruction_strength = 0.0
        self.last_result_instruction = 0.0
        self.used_values = _NONE
        self.named_keys = _NONE
        self.call_count = 0
        self.tool_counts = {}
        self.kind_counts = {}
        self.call_times = []
        self.signatures = {}
        self.last_error = False
        self.pages = _EMPTY
        self.records = _EMPTY
        self.relevance_cache = {}
        self.unread = None
        self.unread_chars = 0

    def set_intent(self, intent: DeclaredIntent | None) -> None:
        self.intent = intent
        reading = read_intent(intent.text if intent is not None else "")
        self.intent_lower = reading.lower
        self.intent_words = reading.words
        self.intent_kinds = reading.kinds
        self.intent_stems = reading.stems
        self.intent_values = reading.values
        self.intent_identifiers = reading.identifiers
        named = [n for n in self.tools if n.lower() in reading.identifiers]
        self.named_tools = frozenset(named) if named else _NONE
        self.intent_volume = reading.volume
        self.intent_bulk = reading.bulk
        self.relevance_cache.clear()

    def set_agent(self, agent: str, delegated: bool = False) -> None:
        self.agent = sys.intern(agent)  # one copy for all of an agent's sessions
        self.delegated = delegated

    def see_tools(self, server: str, tools: Iterable[ToolInfo]) -> list[str]:
        """A server's listing. A server first listed mid-session is ordinary (agents connect
        lazily); what is drift is a name another server already serves (a swap), a tool whose
        description, schema or hints changed, and a new tool imitating a known one."""
        self.read_results()  # a description is read after the results before it
        listing = [listed_tool(info) for info in tools]
        keys = {item.profile.info.name: item.key for item in listing}
        before = self.listed.get(server)
        known = set(self.listed_names)
        listed = self.listed = owned(self.listed)
        listed[server] = keys
        self.listed_names = grown(self.listed_names, keys)
        servers = self.servers = owned(self.servers)
        for item in listing:
            self.tools[item.profile.info.name] = item.profile
            if item.profile.info.name.lower() in self.intent_identifiers:
                self.named_tools = self.named_tools | {item.profile.info.name}
            self.relevance_cache.pop(item.profile.info.name, None)
            if item.planted[0]:  # a description is data the agent reads, like a result
                self.injected_lower = (self.injected_lower + "\n" + item.planted[0])[
                    -RESULT_MEMORY:
                ]
                self.injected_values = self.injected_values | item.planted[1]
        reasons: list[str] = []
        for name, key in keys.items():
            first = servers.setdefault(name, server)
            old = before.get(name) if before is not None else None
            if first != server:
                what = f"offered by server {server!r} as well as {first!r}"
                self._mark_changed(f"{server}\0{name}", what)
                reasons.append(f"tool {name!r} now {what} under a running session")
            elif old is not None and old != key:
                parts = ("description", "input schema", "hints")
                changed = " and ".join(
                    part for part, a, b in zip(parts, old, key, strict=True) if a != b
                )
                self._mark_changed(name, changed)
                reasons.append(
                    f"tool {name!r} of server {server!r} changed its {changed} "
                    "under a running session"
                )
            elif old is None and name not in known:
                imitated = look_alike(name, known) if known else ""
                if imitated:
                    what = f"imitates {imitated!r}"
                    self._mark_changed(name, what)
                    reasons.append(f"tool {name!r} of server {server!r} {what}")
                elif before is not None:  # said, but no drift by itself: servers grow
                    reasons.append(
                        f"tool {name!r} added to server {server!r} under a running session"
                    )
        if before is not None:
            for name in before.keys() - keys.keys():
                reasons.append(
                    f"tool {name!r} removed from server {server!r} under a running session"
                )
        return reasons

    def _mark_changed(self, key: str, what: str) -> None:
        """What changed of a tool (``key``: its name, or "server\0name") under the session."""
        changed = self.changed = owned(self.changed)
        changed[key] = what

    def see_result(self, action_id: str, text_: str, is_error: bool = False) -> None:
        """A result the agent read. It is read when the trail is next looked at (a call
        scored, a listing seen): a session's last results, which no call follows, are then
        never read at all (a fifth of all results in the sample traffic)."""
        if self.unread is None:
            self.unread = []
        self.unread.append((text_, is_error))
        self.unread_chars += len(text_)
        if self.unread_chars > RESULT_MEMORY:
            self.read_results()

    def read_results(self) -> None:
        """Read the results seen since the trail was last looked at, oldest first."""
        unread = self.unread
        if not unread:
            return
        self.unread, self.unread_chars = None, 0
        for text_, is_error in unread:
            self._read_result(text_, is_error)

    def _read_result(self, text_: str, is_error: bool) -> None:
        self.last_error = is_error
        reading = read_result(text_)
        self.results_lower += "\n" + reading.lower
        if len(self.results_lower) > RESULT_MEMORY:
            self.results_lower = self.results_lower[-RESULT_MEMORY:]
        if reading.values is None:
            if self.unvalued is None:
                self.unvalued = []
            self.unvalued.append(reading)
            self.unvalued_chars += len(reading.lower)
            if len(self.unvalued) > _UNVALUED_MAX or self.unvalued_chars > _UNVALUED_CHARS:
                self._value(self.unvalued)  # a bound on what a session holds on to
        elif reading.values:
            self.result_values = grown(self.result_values, reading.values)
        self.last_result_instruction = reading.strongest
        self.instruction_strength = max(self.instruction_strength, reading.strongest)
        for window in reading.windows:
            self.injected_lower = (self.injected_lower + "\n" + window)[-RESULT_MEMORY:]
        if reading.injected_values:
            self.injected_values = self.injected_values | reading.injected_values

    def has_result_value(self, value: str) -> bool:
        """Whether a result read so far carried ``value`` (lower case) among its values. A
        value of an ASCII text is a part of its lower-cased text, but for an IBAN written
        with spaces: only the results whose text holds ``value`` (every one, for a value
        shaped like an IBAN) have their values read, once."""
        if value in self.result_values:
            return True
        waiting = self.unvalued
        if not waiting:
            return False
        if values.IBAN_VALUE.fullmatch(value) is not None:
            self._value(waiting)
        else:
            holding = [reading for reading in waiting if value in reading.lower]
            if not holding:
                return False
            self._value(holding)
        return value in self.result_values

    def _value(self, readings: list[ResultReading]) -> None:
        """Read the values of ``readings`` (of ``unvalued``) into ``result_values``."""
        for reading in readings:
            found = reading.value_set()
            if found:
                self.result_values = grown(self.result_values, found)
        waiting = self.unvalued
        if waiting is None or readings is waiting:
            self.unvalued, self.unvalued_chars = None, 0
            return
        valued = {id(reading) for reading in readings}
        kept = [reading for reading in waiting if id(reading) not in valued]
        self.unvalued = kept or None
        self.unvalued_chars = sum(len(reading.lower) for reading in kept)

    def relevance(self, profile: ToolProfile) -> float:
        """How much of the tool's name and description the intent speaks of, in [0, 1]."""
        name = profile.info.name
        cached = self.relevance_cache.get(name)
        if cached is not None:
            return cached
        if not self.intent_words:
            value = 0.5
        else:
            value = _relevance(
                self.intent_stems,
                self.intent_kinds,
                profile.name_words,
                profile.words,
                profile.kind,
            )
        self.relevance_cache[name] = value
        return value

    def profile(self, tool: str) -> ToolProfile:
        found = self.tools.get(tool)
        if found is None:  # a call to a tool no listing showed: class it by its name alone
            found = unlisted_tool(tool)
            self.tools[found.info.name] = found  # the profile's name: one for all sessions
        return found
