"""The tools a session may call, as their listings describe them: each tool's profile
(access class, description words, what its name says it does) worked out once per listing
and shared by every session that sees the same listing, and the look-alike names a
swapped tool hides behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from models import instructions, text, values
from models.trail import ToolInfo

# How far around an instruction-shaped sentence a value counts as planted by it (chars).
INJECTION_WINDOW = 60


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
# Tools no listing showed (API operations, unlisted MCP tools), read by their name alone.
_UNLISTED: dict[str, ToolProfile] = {}


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


def unlisted_tool(name: str) -> ToolProfile:
    """The profile of a tool no listing showed, from its name alone: a session's first call
    of one asks here instead of making and hashing a ``ToolInfo``."""
    found = _UNLISTED.get(name)
    if found is None:
        found = listed_tool(ToolInfo(name=name)).profile
        if len(_UNLISTED) >= _LISTED_MAX:
            _UNLISTED.clear()
        _UNLISTED[name] = found
    return found


def _listed_tool(info: ToolInfo) -> ListedTool:
    cache_key = (info.name, info.description, _schema_hash(info))
    found = _LISTED.get(cache_key)
    if found is None or found.profile.info != info:
        planted_text = " ".join(
            info.description[max(0, start - INJECTION_WINDOW) : end + INJECTION_WINDOW]
            for start, end, _ in instructions.instruction_spans(info.description)
        )
        planted = (planted_text.lower(), frozenset(values.values_in(planted_text)))
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
