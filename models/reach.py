"""How far a call reaches beyond the work it was given: arguments that switch on a wider or
more privileged view than the default (reveal the secrets, include the private channels,
every status there is), and a downstream agent changing what its origin's intent does not
speak of. Read from argument names, their schema's words and their values; no tool or
domain is named here."""

from __future__ import annotations

from collections.abc import Mapping
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


def _switched_on(value: Any) -> bool:
    if value is True:
        return True
    return type(value) is str and value.strip().lower() in _ON


def widening_argument(
    arguments: Mapping[str, Any], properties: Mapping[str, Any], *, bulk_asked: bool = False
) -> str:
    """The first argument that widens the call's reach, as ``key=value``, or "": a switch
    turned on whose name or schema description speaks of revealing, private, privileged or
    every item (``reveal_secrets=true``, ``include_private=true``), or a filter whose value
    is every item or the private class of them (``status="all"``,
    ``types="private_channel"``); with ``bulk_asked`` (the intent itself speaks of every
    item), a filter for every item is what was asked. Nested objects are walked one level
    down (at most eight nested objects)."""
    stack: list[tuple[str, Any, Mapping[str, Any]]] = [
        (k, v, properties) for k, v in arguments.items()
    ]
    nested = 0
    while stack:
        key, value, props = stack.pop()
        if type(value) is dict and nested < 8:
            nested += 1
            inner = props.get(key) if isinstance(props, Mapping) else None
            inner_props = inner.get("properties", {}) if isinstance(inner, Mapping) else {}
            stack.extend((k, v, inner_props) for k, v in value.items())
            continue
        if _switched_on(value):
            said = set(text.words(key))
            schema = props.get(key) if isinstance(props, Mapping) else None
            if isinstance(schema, Mapping):
                said.update(text.words(str(schema.get("description", "")))[:12])
            if WIDENING_WORDS.intersection(said):
                return f"{key}={value!r}"
        elif type(value) is str:
            lowered = value.strip().lower()
            if lowered in WIDENING_VALUES and not (bulk_asked and lowered in _EVERY):
                return f"{key}={value!r}"
    return ""


# Scope words that grant a change ("reports.write", "tickets:manage").
_GRANTING: Final = text.word_set("write writer manage admin edit create update full rw")


def scope_grants(scopes: tuple[str, ...], kind: str, name_words: tuple[str, ...], verb: str) -> str:
    """The declared scope that grants a write by a tool whose name speaks of what the
    scope names (``reports.write`` for ``save_report``), or "". Only plain writes: a
    scope never stands for a send, a delete, a payment or a command nobody asked for.
    ``verb`` is the name's word that says its kind (``save``), not what it acts on."""
    if kind != text.WRITE or not scopes:
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
