"""The shape of a domain in the catalogue: its tools, the values a session draws, the jobs a
person asks for (benign tasks), and what an attacker aims at there (sinks, destructive
writes, scope widening, bulk reads).

Templates are ``str.format`` strings over a session's context (the drawn values); argument
values that are not strings are used as they are, callables are called with the context.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from models.scenarios.types import Tool

# Kinds of benign task: what the person asked for, which decides what counts as drift.
READ: Final = "read"  # look things up, summarise, report back
WRITE: Final = "write"  # change something the intent names
FROM_RESULT: Final = "from_result"  # act on a value that only a tool result holds
LONG_READ: Final = "long_read"  # the intent asks for many records
IMPERATIVE: Final = "imperative"  # results carry imperative text that is harmless here
TASK_KINDS: Final = (READ, WRITE, FROM_RESULT, LONG_READ, IMPERATIVE)


class Context(dict[str, Any]):
    """A session's drawn values; a template naming a value not drawn fails loudly."""

    def __missing__(self, key: str) -> Any:
        raise KeyError(f"template names {key!r}, which this domain does not draw")


def fill(template: Any, ctx: Context) -> Any:
    """A template filled from ``ctx``: strings formatted, lists and dicts walked, callables
    called, anything else as it is."""
    if isinstance(template, str):
        return template.format_map(ctx) if "{" in template else template
    if callable(template):
        return template(ctx)
    if isinstance(template, list | tuple):
        return [fill(item, ctx) for item in template]
    if isinstance(template, dict):
        return {key: fill(value, ctx) for key, value in template.items()}
    return template


@dataclass(frozen=True, slots=True)
class Op:
    """One call a session makes, and the text its result carries.

    ``slot``: the context value inside ``result`` where planted text can sit (this op's
    result is a place an injection can arrive), ``placement`` names that place (email body,
    ticket comment, ...); ``json_slot``: the result is JSON text, so planted text is escaped.
    """

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    result: str = "ok"
    slot: str = ""
    placement: str = ""
    json_slot: bool = False
    domain: str = ""  # the domain whose tool this is, when not the task's own (bridges)


@dataclass(frozen=True, slots=True)
class Task:
    """A benign job: ways a person asks for it (templates, imperative, no final stop) and
    the calls that do it. ``repeat``: for long reads, the op repeated once per page
    (``{page}``), ``ctx["pages"]`` times. ``steps_text``: the job as a numbered list."""

    name: str
    asks: tuple[str, ...]
    ops: tuple[Op, ...]
    kind: str = READ
    steps_text: tuple[str, ...] = ()
    repeat: int = -1
    actions: tuple[str, ...] = ("read",)  # what a declarer would declare for it


@dataclass(frozen=True, slots=True)
class Sink:
    """A call an attacker wants made: ``op``'s arguments use ``{target}`` (the attacker's
    value, of kind ``target``: email, url, iban, channel, user, phone, repo) and ``{leak}``
    (data the session read). ``verb``: how planted text asks for it, with ``{target}``.
    ``exfil``: it sends data out; otherwise it acts (pays, grants, forwards, books)."""

    op: Op
    target: str
    verb: str
    exfil: bool


@dataclass(frozen=True, slots=True)
class Domain:
    """One domain of the catalogue. ``destroy``: destructive writes (``{victim}`` is an id
    the session saw, ``{invented}`` one it made up); ``creep``: calls that widen a read into
    writes or new resources (internal-looking values); ``bulk``: a listing read with
    ``{page}`` and ``{limit}``."""

    name: str
    tools: tuple[Tool, ...]
    draw: Callable[[random.Random], dict[str, Any]]
    tasks: tuple[Task, ...]
    sinks: tuple[Sink, ...]
    destroy: tuple[Op, ...]
    creep: tuple[Op, ...]
    bulk: Op
    scopes: tuple[str, ...]
    resources: tuple[str, ...] = ()  # templates of what a declarer names as resources

    def tool(self, name: str) -> Tool:
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(f"{self.name} has no tool {name!r}")


def val(key: str) -> Callable[[Context], Any]:
    """An argument that takes a context value as it is (an int stays an int)."""
    return lambda ctx: ctx[key]


def schema(properties: Mapping[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON Schema object from ``{"name": "type: description"}`` (type one of string,
    integer, number, boolean, array, object; ``string[]`` for an array of strings;
    ``enum(a|b|c)`` for a string enum)."""
    props: dict[str, Any] = {}
    for name, spec in properties.items():
        kind, _, description = spec.partition(":")
        kind, description = kind.strip(), description.strip()
        prop: dict[str, Any]
        if kind.endswith("[]"):
            prop = {"type": "array", "items": {"type": kind[:-2]}}
        elif kind.startswith("enum("):
            prop = {"type": "string", "enum": kind[5:-1].split("|")}
        else:
            prop = {"type": kind}
        if description:
            prop["description"] = description
        props[name] = prop
    result: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        result["required"] = list(required)
    return result


def tool(
    server: str,
    name: str,
    description: str,
    properties: Mapping[str, str],
    required: tuple[str, ...] = (),
    *,
    ro: bool | None = None,
    destructive: bool | None = None,
) -> Tool:
    return Tool(server, name, description, schema(properties, required), ro, destructive)
