"""The context a scorer keeps for one session (the concrete ``SessionTrail``): the intent and
what it asks for, the tools each server listed and how each is classed, the values earlier
results carried (and which of them sat next to instruction-shaped text), and the calls made.

Everything that does not change per call is worked out once here: the intent's words,
kinds and values when the intent is set, a tool's access class and description words when
its server lists it, a result's values and instruction spans when it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from models import asks, instructions, quantities, text
from models.trail import DeclaredIntent, ToolInfo

# How far around an instruction-shaped sentence a value counts as planted by it (chars).
INJECTION_WINDOW = 60
# Earlier results kept for provenance look-ups, in characters (the newest win).
RESULT_MEMORY = 200_000


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


@dataclass(slots=True)
class ToolProfile:
    """What a tool is, as far as its listing tells: worked out once per listing."""

    info: ToolInfo
    kind: str  # one of text.KINDS
    words: frozenset[str]  # of its name and description
    name_words: tuple[str, ...]
    bulk: bool  # about many records at once
    properties: Mapping[str, Any]  # the input schema's properties
    accesses: frozenset[str]  # the declared actions it may fall under (read, write, delete)
    verb: str  # the first word of its name that says a kind ("comment" of comment_add)
    # Its writes only add (a note, a comment, a draft, a saved report): the item it names
    # is the one it makes or adds to, not one it overwrites.
    additive: bool = False
    key_roles: dict[str, str] = field(default_factory=dict)  # argument name -> role, cached

    def role_of_key(self, key: str) -> str:
        role = self.key_roles.get(key)
        if role is None:
            prop = self.properties.get(key)
            role = text.key_role(key, prop if isinstance(prop, Mapping) else None)
            self.key_roles[key] = role
        return role

    @classmethod
    def of(cls, info: ToolInfo) -> ToolProfile:
        name_words = tuple(text.words(info.name))
        described = text.words(info.description)
        named = text.name_kind(info.name)
        described_kind = _description_kind(described)
        kind = named or described_kind or text.READ
        if named == text.WRITE and described_kind in (text.SEND, text.PAY, text.DELETE, text.EXEC):
            kind = described_kind  # "push_export: Uploads records to a URL" sends
        if info.read_only is True:
            kind = text.READ
        elif info.destructive is True and kind in (text.READ, text.WRITE):
            kind = text.DELETE
        elif info.read_only is False and kind == text.READ:
            kind = text.WRITE
        props = info.input_schema.get("properties") if info.input_schema else None
        accesses = {text.ACCESS_OF_KIND[kind]}
        hinted = info.read_only is True or info.destructive is True
        if not hinted and text.WRITE_OR_DELETE.intersection(name_words[:2]):
            accesses = {"write", "delete"}
        return cls(
            info=info,
            kind=kind,
            words=frozenset(w for w in (*name_words, *described) if w not in text.STOPWORDS),
            name_words=name_words,
            # From the name alone: descriptions say "all fields" of one record too often.
            bulk=bool(text.BULK_WORDS.intersection(name_words)),
            properties=props if isinstance(props, Mapping) else {},
            accesses=frozenset(accesses),
            # The word the name's kind came from: "void" in invoice_void, whose first word
            # names the object (see ``text.name_kind``).
            verb=next(
                (w for w in name_words if named is not None and text.kind_of(w) == named),
                next((w for w in name_words if text.kind_of(w) is not None), ""),
            ),
            additive=kind == text.WRITE
            and info.destructive is not True
            and bool(text.ADDITIVE_VERBS.intersection(name_words[:2])),
        )


def _description_kind(described: list[str]) -> str | None:
    """The kind of a description's first action word ("Sends a message to ...")."""
    for token in described[:12]:
        kind = text.kind_of(token)
        if kind is not None and not _inflected_noun(token):
            return kind
    return None


def _inflected_noun(token: str) -> bool:
    """A word that is a noun or an adjective as often as a verb, in a form a description
    uses for the thing, not the act ("a camera's recording", "a signed link")."""
    if not token.endswith(("ing", "ed")) or token in text.KIND_OF_WORD:
        return False
    stem = token[:-3] if token.endswith("ing") else token[:-2]
    return any(s in text.AMBIGUOUS for s in (stem, stem + "e", stem[:-1]))


def _tool_key(info: ToolInfo) -> tuple[str, str, str]:
    """What a listing says of a tool, to tell whether it changed under a running session."""
    schema = orjson.dumps(info.input_schema, option=orjson.OPT_SORT_KEYS, default=str)
    return (info.description, schema.decode(), f"{info.read_only}/{info.destructive}")


@dataclass(frozen=True, slots=True)
class ListedTool:
    """A tool as one listing gave it, worked out once for every session that lists it (the
    same server lists the same catalogue to many sessions)."""

    profile: ToolProfile
    key: tuple[str, str, str]
    planted: tuple[str, frozenset[str]]  # instruction-shaped text in its description, values


_LISTED: dict[tuple[str, str, int], ListedTool] = {}
_LISTED_MAX = 4096


# The same objects again (a listing a stream worker has read before): known without
# hashing the schema. Each entry holds its ``ToolInfo``, so that its id is not reused.
_BY_OBJECT: dict[int, tuple[ToolInfo, ListedTool]] = {}
# Tools no listing showed (API operations, unlisted MCP tools), read by their name alone: a
# session's first call of one asks here instead of making and hashing a ``ToolInfo``.
_UNLISTED: dict[str, ToolProfile] = {}
_NONE: frozenset[str] = frozenset()  # the empty word set a new trail starts with


def listed_tool(info: ToolInfo) -> ListedTool:
    """The cached reading of ``info`` (by name, description and schema)."""
    seen = _BY_OBJECT.get(id(info))
    if seen is not None and seen[0] is info:
        return seen[1]
    found = _listed_tool(info)
    if len(_BY_OBJECT) >= _LISTED_MAX:
        _BY_OBJECT.clear()
    _BY_OBJECT[id(info)] = (info, found)
    return found


def _listed_tool(info: ToolInfo) -> ListedTool:
    cache_key = (info.name, info.description, _schema_hash(info))
    found = _LISTED.get(cache_key)
    if found is None or found.profile.info != info:
        planted_text = " ".join(
            info.description[max(0, start - INJECTION_WINDOW) : end + INJECTION_WINDOW]
            for start, end, _ in instructions.instruction_spans(info.description)
        )
        planted = (planted_text.lower(), frozenset(text.values_in(planted_text)))
        found = ListedTool(ToolProfile.of(info), _tool_key(info), planted)
        if len(_LISTED) >= _LISTED_MAX:
            _LISTED.clear()
        _LISTED[cache_key] = found
    return found


def _schema_hash(info: ToolInfo) -> int:
    try:
        return hash(repr(info.input_schema)) ^ hash((info.read_only, info.destructive))
    except TypeError:
        return 0


# What a look-alike adds to the name it imitates ("send_email_v2", "secure_send_email").
_LOOKALIKE_AFFIXES = text.word_set(
    "v v1 v2 v3 2 3 new secure safe official updated fixed improved pro plus real verified "
    "latest mirror proxy copy alt"
)


def look_alike(name: str, others: Iterable[str]) -> str:
    """The tool of ``others`` that ``name`` imitates (an affix added, one letter changed),
    or ""."""
    squeezed = "".join(text.words(name))
    for other in others:
        if other == name:
            continue
        base = "".join(text.words(other))
        if len(base) < 5 or squeezed == base:
            continue
        if base in squeezed:
            rest = squeezed.replace(base, "", 1)
            if rest in _LOOKALIKE_AFFIXES or rest.isdigit():
                return other
        elif abs(len(squeezed) - len(base)) <= 1 and _one_edit(squeezed, base):
            return other
    return ""


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one letter changed, added or dropped."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if len(a) < len(b):
        a, b = b, a
    return any(a[:i] + a[i + 1 :] == b for i in range(len(a)))


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
    words = frozenset(text.content_words(body))
    numbers = quantities.numbers_in(body)
    return IntentReading(
        lower=body.lower(),
        words=words,
        kinds=frozenset(asks.intent_kinds(body)),
        stems=_stems(words),
        values=frozenset(text.values_in(body)),
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


@dataclass(frozen=True, slots=True, init=False)
class ResultReading:
    """What one result's text carries, read once per distinct text (an error message, an
    empty answer, the same record fetched again: many results are alike)."""

    lower: str
    values: frozenset[str]
    strongest: float  # the strongest instruction-shaped sentence in it, 0 if none
    windows: tuple[str, ...]  # lower-cased, the text around each such sentence
    injected_values: frozenset[str]  # the values of those windows

    def __init__(  # written out: compiled, it runs natively (see models.trail.Call)
        self,
        lower: str,
        values: frozenset[str],
        strongest: float,
        windows: tuple[str, ...],
        injected_values: frozenset[str],
    ) -> None:
        _set = object.__setattr__
        _set(self, "lower", lower)
        _set(self, "values", values)
        _set(self, "strongest", strongest)
        _set(self, "windows", windows)
        _set(self, "injected_values", injected_values)


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
        injected.update(text.values_in(window))
    return ResultReading(
        lower=text_.lower(),
        values=frozenset(text.values_in(text_)),
        strongest=max((s for _, _, s in spans), default=0.0),
        windows=tuple(window.lower() for window in windows),
        injected_values=frozenset(injected),
    )


# Texts up to this long are remembered (at most 4,096 of them): a long one is rarely seen
# twice, and would hold memory.
RESULT_CACHE_CHARS = 2048
_read_short_result = lru_cache(maxsize=4096)(_read_result)


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
    named_tools: set[str] = field(default_factory=set)
    intent_stems: frozenset[str] = frozenset()  # first five letters of each intent word
    intent_volume: float = 0.0  # the largest quantity the intent names, 0 if none
    intent_bulk: bool = False
    agent: str = ""
    delegated: bool = False
    tools: dict[str, ToolProfile] = field(default_factory=dict)  # by name, latest listing
    listed: dict[str, dict[str, tuple[str, str, str]]] = field(default_factory=dict)
    listed_names: set[str] = field(default_factory=set)  # every tool any listing showed
    # What changed under the running session, by tool name and by "server\0tool".
    changed: dict[str, str] = field(default_factory=dict)
    servers: dict[str, str] = field(default_factory=dict)  # tool name -> the server listing it
    results_lower: str = ""
    injected_lower: str = ""  # the windows around instruction-shaped sentences
    result_values: set[str] = field(default_factory=set)
    injected_values: set[str] = field(default_factory=set)
    instruction_strength: float = 0.0  # the strongest instruction seen in a result
    last_result_instruction: float = 0.0  # in the latest result
    used_values: set[str] = field(default_factory=set)  # values earlier calls carried
    named_keys: set[str] = field(default_factory=set)  # arguments that carried the task's items
    call_count: int = 0
    tool_counts: dict[str, int] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)
    call_times: list[float] = field(default_factory=list)  # epoch seconds, recent only
    signatures: dict[str, int] = field(default_factory=dict)  # identical calls made so far
    last_error: bool = False  # the latest result was an error (a retry is then ordinary)
    pages: dict[str, int] = field(default_factory=dict)  # per tool, calls that paged
    records: dict[str, float] = field(default_factory=dict)  # per tool, records asked for
    relevance_cache: dict[str, float] = field(default_factory=dict)

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
        self.named_tools = set()
        self.intent_stems = _NONE
        self.intent_volume = 0.0
        self.intent_bulk = False
        self.agent = ""
        self.delegated = False
        self.tools = {}
        self.listed = {}
        self.listed_names = set()
        self.changed = {}
        self.servers = {}
        self.results_lower = ""
        self.injected_lower = ""
        self.result_values = set()
        self.injected_values = set()
        self.instruction_strength = 0.0
        self.last_result_instruction = 0.0
        self.used_values = set()
        self.named_keys = set()
        self.call_count = 0
        self.tool_counts = {}
        self.kind_counts = {}
        self.call_times = []
        self.signatures = {}
        self.last_error = False
        self.pages = {}
        self.records = {}
        self.relevance_cache = {}

    def set_intent(self, intent: DeclaredIntent | None) -> None:
        self.intent = intent
        reading = read_intent(intent.text if intent is not None else "")
        self.intent_lower = reading.lower
        self.intent_words = reading.words
        self.intent_kinds = reading.kinds
        self.intent_stems = reading.stems
        self.intent_values = reading.values
        self.intent_identifiers = reading.identifiers
        self.named_tools = {n for n in self.tools if n.lower() in reading.identifiers}
        self.intent_volume = reading.volume
        self.intent_bulk = reading.bulk
        self.relevance_cache.clear()

    def set_agent(self, agent: str, delegated: bool = False) -> None:
        self.agent = agent
        self.delegated = delegated

    def see_tools(self, server: str, tools: Iterable[ToolInfo]) -> list[str]:
        """A server's listing. A server first listed mid-session is ordinary (agents connect
        lazily); what is drift is a name another server already serves (a swap), a tool whose
        description, schema or hints changed, and a new tool imitating a known one."""
        listing = [listed_tool(info) for info in tools]
        keys = {item.profile.info.name: item.key for item in listing}
        before = self.listed.get(server)
        known = set(self.listed_names)
        self.listed[server] = keys
        self.listed_names.update(keys)
        for item in listing:
            self.tools[item.profile.info.name] = item.profile
            if item.profile.info.name.lower() in self.intent_identifiers:
                self.named_tools.add(item.profile.info.name)
            self.relevance_cache.pop(item.profile.info.name, None)
            if item.planted[0]:  # a description is data the agent reads, like a result
                self.injected_lower = (self.injected_lower + "\n" + item.planted[0])[
                    -RESULT_MEMORY:
                ]
                self.injected_values.update(item.planted[1])
        reasons: list[str] = []
        for name, key in keys.items():
            first = self.servers.setdefault(name, server)
            old = before.get(name) if before is not None else None
            if first != server:
                what = f"offered by server {server!r} as well as {first!r}"
                self.changed[f"{server}\0{name}"] = what
                reasons.append(f"tool {name!r} now {what} under a running session")
            elif old is not None and old != key:
                parts = ("description", "input schema", "hints")
                changed = " and ".join(
                    part for part, a, b in zip(parts, old, key, strict=True) if a != b
                )
                self.changed[name] = changed
                reasons.append(
                    f"tool {name!r} of server {server!r} changed its {changed} "
                    "under a running session"
                )
            elif old is None and name not in known:
                imitated = look_alike(name, known) if known else ""
                if imitated:
                    what = f"imitates {imitated!r}"
                    self.changed[name] = what
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

    def see_result(self, action_id: str, text_: str, is_error: bool = False) -> None:
        self.last_error = is_error
        reading = read_result(text_)
        self.results_lower += "\n" + reading.lower
        if len(self.results_lower) > RESULT_MEMORY:
            self.results_lower = self.results_lower[-RESULT_MEMORY:]
        self.result_values.update(reading.values)
        self.last_result_instruction = reading.strongest
        self.instruction_strength = max(self.instruction_strength, reading.strongest)
        for window in reading.windows:
            self.injected_lower = (self.injected_lower + "\n" + window)[-RESULT_MEMORY:]
        self.injected_values.update(reading.injected_values)

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
            found = _UNLISTED.get(tool)
            if found is None:
                found = listed_tool(ToolInfo(name=tool)).profile
                if len(_UNLISTED) >= _LISTED_MAX:
                    _UNLISTED.clear()
                _UNLISTED[tool] = found
            self.tools[tool] = found
        return found
