"""How far a call reaches beyond the work it was given: arguments that switch on a wider or
more privileged view than the default (reveal the secrets, include the private channels,
every status there is), and a downstream agent changing what its origin's intent does not
speak of. Read from argument names, their schema's words and their values; no tool or
domain is named here."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from models import text

# Words of a switch that widens what a call sees or may do when it is turned on.
WIDENING_WORDS: Final = text.word_set(
    "reveal unmask unmasked unredact decrypt plaintext private privileged secret secrets "
    "admin sudo elevated force override bypass everyone all hidden deleted archived "
    "confidential sensitive raw"
)
# A value that names every item, or the private or privileged class of them.
WIDENING_VALUES: Final = text.word_set(
    "all any every everyone everything private private_channel private_channels "
    "confidential privileged hidden admin"
)
_EVERY: Final = text.word_set("all any every everyone everything")
_ON: Final = frozenset({"true", "yes", "on", "1"})


def _widens_when_on(key: str, schema: Any) -> bool:
    said = set(text.words(key))
    if isinstance(schema, Mapping):
        said.update(text.words(str(schema.get("description", "")))[:12])
    return bool(WIDENING_WORDS.intersection(said))


def widening_argument(
    arguments: Mapping[str, Any],
    properties: Mapping[str, Any],
    *,
    bulk_asked: bool = False,
    depth: int = 2,
) -> str:
    """The first argument that widens the call's reach, as ``key=value``, or "": a switch
    turned on whose name or schema description speaks of revealing, private, privileged or
    every item (``reveal_secrets=true``, ``include_private=true``), or a filter whose value
    is every item or the private class of them (``status="all"``,
    ``types="private_channel"``); with ``bulk_asked`` (the intent itself speaks of every
    item), a filter for every item is what was asked. Nested objects are read ``depth``
    levels down. Runs on every call: most values are told by their type alone."""
    for key, value in arguments.items():
        kind = type(value)
        if value is True:
            if _widens_when_on(key, properties.get(key)):
                return f"{key}={value!r}"
        elif kind is str:
            if len(value) > 16:
                continue
            lowered = value.strip().lower()
            if lowered in _ON:
                if _widens_when_on(key, properties.get(key)):
                    return f"{key}={value!r}"
            elif lowered in WIDENING_VALUES and not (bulk_asked and lowered in _EVERY):
                return f"{key}={value!r}"
        elif kind is dict and depth > 0:
            inner = properties.get(key)
            inner_props = inner.get("properties") if isinstance(inner, Mapping) else None
            found = widening_argument(
                value,
                inner_props if isinstance(inner_props, Mapping) else {},
                bulk_asked=bulk_asked,
                depth=depth - 1,
            )
            if found:
                return found
    return ""


# Scope words that grant a change ("reports.write", "tickets:manage").
_GRANTING: Final = text.word_set("write writer manage admin edit create update full rw")
# Switches that make a write replace what is there instead of adding to it.
OVERWRITING_WORDS: Final = text.word_set(
    "overwrite overwriting replace replacing force upsert clobber truncate reset purge wipe"
)
_REPLACING_MODES: Final = frozenset({"overwrite", "replace", "truncate", "upsert"})


def overwrites(
    arguments: Mapping[str, Any], name_words: tuple[str, ...] = (), verb: str = ""
) -> str:
    """The argument that makes a write replace an existing item instead of adding one,
    as ``key=value``, or "": a switch turned on whose name speaks of overwriting
    (``overwrite=true``, ``force=true``), a mode that names it (``mode="replace"``), or
    the id of the very kind of item the tool writes (``report_id`` for ``save_report``:
    that report exists, and saving it replaces it; ``ticket_id`` for ``add_ticket_note``
    only says where the new note goes). Read only for a write a scope would
    grant: most calls never get here."""
    # The item the tool writes is its name's last word besides the verb: add_ticket_note
    # adds a note to the ticket its ticket_id names, save_report saves a report.
    written = next((w[:5] for w in reversed(name_words) if w != verb), "")
    for key, value in arguments.items():
        said = text.words(key)
        lowered = value.strip().lower() if type(value) is str else ""
        if value is True or lowered in _ON:
            if OVERWRITING_WORDS.intersection(said):
                return f"{key}={value!r}"
            continue
        its_id = said[-1:] == ["id"] and (len(said) == 1 or said[-2][:5] == written)
        if lowered in _REPLACING_MODES or (its_id and value not in (None, "")):
            return f"{key}={value!r}"
    return ""


# Read once per session's scopes and tool: the same few pairs come back on every call.
@lru_cache(maxsize=16_384)
def scope_grants(
    scopes: tuple[str, ...],
    kind: str,
    name_words: tuple[str, ...],
    verb: str,
    additive: bool = False,
) -> str:
    """The declared scope that grants a write by a tool whose name speaks of what the
    scope names (``reports.write`` for ``save_report``), or "". Only a write that adds
    something of the agent's own (``additive``: a saved report, a note, a draft, a new
    record): a scope is what the person let the agent touch, not what they asked it to
    do, so it never stands for an overwrite or an update of an existing item, a delete,
    a destructive tool, a send, a payment or a command nobody asked for. ``verb`` is the
    name's word that says its kind (``save``), not what it acts on."""
    if kind != text.WRITE or not additive or not scopes:
        return ""
    objects = {w[:5] for w in name_words if len(w) > 3 and w != verb}
    if not objects:
        return ""
    for scope in scopes:
        said = text.words(scope)
        if _GRANTING.intersection(said) and any(
            w[:5] in objects for w in said if w not in _GRANTING and len(w) > 3
        ):
            return scope
    return ""
