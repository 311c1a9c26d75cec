"""What a call is beyond its tool's listing: the kind its statement gives a generic
executor, what counts as the same tool, whether any listing showed it, how far it goes
beyond the calls a task needs, and where its values came from."""

from __future__ import annotations

import math
import re
import sys
from typing import TYPE_CHECKING, Any, Protocol

from models import statements, text
from models.session import Trail, grown, owned
from models.tools import ToolProfile
from models.trail import Call, CallSignature

if TYPE_CHECKING:
    from collections.abc import Mapping

RATE_WINDOW_S = 1.0
# What a session ordinarily needs: beyond these, each doubling adds one to the spree.
SAME_TOOL_BUDGET = 5
RATE_BUDGET = 4  # calls within RATE_WINDOW_S
REPEATS_ALLOWED = 1  # identical calls beyond the first that say nothing by themselves
RECENT_RESULTS = 20_000  # characters of the latest results a flattened quote is looked for in


class Recorded(Protocol):
    """What a call's reading leaves in its trail (``models.trail.Reading``)."""

    kind: str
    paged: bool
    volume: float
    named_keys: list[str]
    signature: CallSignature  # ``call_signature`` of the call, or 0 when not worked out
    at: float  # the call's time in epoch seconds, or 0.0 when not worked out


def statement_kind(profile: ToolProfile, call: Call, kind: str) -> str:
    """A generic executor's kind is its statement's: a SELECT reads, a DELETE deletes."""
    for key, raw in call.arguments.items():
        if isinstance(raw, str) and profile.role_of_key(key) == text.COMMAND:
            stated = statements.statement_kind(raw)
            # A SELECT reads, whether a runner or a query execution the log calls a write
            # carries it; a tool whose own verb writes keeps its kind.
            if stated == text.READ and profile.kind in (text.READ, text.EXEC):
                return text.READ
            if stated in (text.WRITE, text.DELETE) and kind != stated:
                return stated
            break
    return kind


def tool_key(call: Call) -> str:
    """What "the same tool" is: an API operation on one resource (GetItem of one table)."""
    return f"{call.tool}\0{call.resource}" if call.resource else call.tool


def unlisted(trail: Trail, call: Call) -> bool:
    """A call to a tool its server's listing did not show (or, with no server named, no
    listing of the session)."""
    listed = trail.listed.get(call.server) if call.server else None
    if listed is not None:
        return call.tool not in listed
    return bool(trail.listed_names) and call.tool not in trail.listed_names


def call_signature(call: Call) -> CallSignature:
    """What makes two calls identical: tool, resource and arguments, each argument's value
    as text, hashed. A trail keeps one per distinct call for the session's life: a number
    holds a fraction of the memory of the parts, or of one text of them, and costs a
    fraction of the time formatting them took. Two different calls of one session sharing
    a 64-bit hash (of keyed string hashes) would count as a repeat; at a few hundred calls
    a session that is about one in 10^14."""
    arguments = tuple(sorted([(k, str(v)) for k, v in call.arguments.items()]))
    return hash((call.tool, call.resource, arguments))


def sprees_of(
    trail: Trail,
    call: Call,
    paged: bool,
    volume: float,
    signature: CallSignature,
    change: bool,
    at: float,
) -> list[tuple[float, str]]:
    """More calls than the task needs, four ways: pages beyond what the intent needs,
    identical calls beyond a retry, calls of one tool beyond an ordinary task's, calls
    faster than an agent works for a person; each with how far over (one feature, so that
    what one kind of spree teaches the model holds for all) and what says so.
    ``signature``: the call's ``call_signature``; ``change``: the call changes something
    (a write, a send, a delete, a payment, a command); ``at``: the call's time in epoch
    seconds."""
    sprees: list[tuple[float, str]] = []
    # A read made again is ordinary (a check after a change, a retry, a read both the agent
    # and its server make): identical reads count from the third. A change made again after
    # it succeeded (the same refund, booking or cancellation twice) counts from the second;
    # after an error, from the third (a retry).
    repeats = trail.signatures.get(signature, 0) + 1 - int(trail.last_error)
    # A call logged without its arguments (an API record) cannot be told identical; an MCP
    # call without arguments (getAccounts {}) is the same call each time.
    if (call.arguments or not call.api) and repeats > 1 + REPEATS_ALLOWED - int(change):
        # An identical call learns nothing new: past the retry, each weighs like a page
        # past what the task needs, counted from one.
        sprees.append((math.log2(repeats) + 0.5, f"the same {call.tool} call made {repeats} times"))
    pages = trail.pages.get(call.tool, 0) + int(paged)
    # The pages the intent needs: its quantity over the page's size, and at least two (a
    # listing read to its second page is an ordinary look further, in benign work as often).
    pages_needed = max(2.0, (trail.intent_volume or 0.0) / (volume or 25.0) * 1.5)
    if paged and pages > pages_needed:
        sprees.append(
            (
                math.log2(pages / pages_needed) + 0.5,
                f"page {pages} of {call.tool}, where the intent needs ~{pages_needed:g}",
            )
        )
    same = trail.tool_counts.get(tool_key(call), 0) + 1
    same_budget = max(SAME_TOOL_BUDGET, pages_needed)
    if same > same_budget:
        sprees.append(
            (math.log2(same / same_budget) + 0.5, f"{same} calls of {call.tool} in this session")
        )
    recent = 1 + sum(1 for t in trail.call_times if at - t <= RATE_WINDOW_S)
    if recent > RATE_BUDGET:
        sprees.append(
            (math.log2(recent / RATE_BUDGET) + 0.5, f"{recent} calls within {RATE_WINDOW_S:g} s")
        )
    return sprees


def acting_account(key: str) -> bool:
    """An account key that names the one acting or paying (fromAccountId, a brand's
    accountId), not where anything goes."""
    named = text.words(key)
    return named == ["account", "id"] or bool(text.SOURCE_WORDS.intersection(named))


def anchored_value(lower: str, trail: Trail) -> bool:
    """Whether a value came from the task: the intent or a result gave it, an earlier call
    used it, or its words are the intent's."""
    compact = lower.replace(" ", "")
    return (
        lower in trail.intent_lower
        or compact in trail.intent_values
        or lower in trail.results_lower
        or trail.has_result_value(compact)
        or lower in trail.used_values
        or any(len(w) > 3 and w[:5] in trail.intent_stems for w in text.words(lower))
    )


def in_prose(lower: str, results: str) -> bool:
    """Whether ``lower`` first stands in ``results`` after a word, as in a sentence ("to
    x@y", "at https://..."), not after a field's mark (``From: ``, ``"email": "``, ``<``)."""
    at = results.find(lower)
    if at < 2 or results[at - 1] != " ":
        return False
    return results[at - 2].isalpha()


def carries_results(lower: str, results: str) -> bool:
    """Whether a URL's query carries text of a result (data leaving in a GET)."""
    query = lower.partition("?")[2]
    if len(query) < 24:
        return False
    _, _, carried = query.partition("=")
    if len(carried) < 16:
        return False
    piece = " ".join(carried.split())[:32]
    if piece in results:
        return True
    if " " not in piece:
        return False
    # A summary flattens the page's lines: match any run of whitespace between its words, in
    # the recent results only (the page just read; a regex over all of them costs ~0.2 ms).
    spaced = r"\s+".join(map(re.escape, piece.split(" ")))
    return re.search(spaced, results[-RECENT_RESULTS:]) is not None


_SHAPE = str.maketrans("0123456789abcdefghijklmnopqrstuvwxyz", "x" * 36)


def id_shape(value: str) -> str:
    """An id's shape: its letters and digits x, its marks kept (PO-224810: xx-xxxxxx,
    a locator E7AV8Z: xxxxxx)."""
    return value.translate(_SHAPE)


def is_date(lower: str) -> bool:
    """Whether ``lower`` starts as a date does (2026-03-01, 2026/03/01)."""
    return lower[:4].isdigit() and lower[4:5] in ("-", "/")


def sibling_of_named(lower: str, trail: Trail) -> bool:
    """Whether ``lower`` is an id shaped like one the intent named, but another: the task
    named PO-224810 and the call reaches for PO-024894."""
    if not trail.intent_values or not any(c.isdigit() for c in lower):
        return False
    if is_date(lower):
        return False  # the task's own days move (the next day, the day before)
    shape = id_shape(lower)
    return any(id_shape(v) == shape and v != lower for v in trail.intent_values)


def ordered_delete(arguments: Mapping[str, Any]) -> bool:
    """Whether an argument's value is an order to delete (action=delete_account,
    op=purge): a word, not a sentence, naming the act the call will carry out."""
    return any(
        len(raw) <= 32
        and " " not in raw
        and raw[:1].isalpha()
        and any(text.kind_of(w) == text.DELETE for w in text.words(raw))
        for _, raw in text.leaf_values(arguments)
    )


def catalogue_change(trail: Trail, call: Call) -> str:
    """What changed of the called tool under the running session, said as a reason ("" if
    nothing did). An API call is described by no listing: the catalogue's changes are the
    MCP calls'."""
    if call.api:
        return ""
    changed = trail.changed.get(f"{call.server}\0{call.tool}") or trail.changed.get(call.tool)
    if not changed:
        # A call reaching a server the session saw no listing of, for a tool another
        # server offered it: the swap that a listing would show (``Trail.see_tools``),
        # before the listing, or without one (a client that cached it).
        first = trail.servers.get(call.tool) if call.server else None
        if first is not None and first != call.server and call.server not in trail.listed:
            return f"{call.tool} is called on server {call.server!r}, while {first!r} offers it"
        return ""
    if changed == "added":
        return f"{call.tool} was added under the running session"
    if changed.startswith(("offered", "imitates")):
        return f"{call.tool} is {changed}"
    return f"{call.tool}'s {changed} changed under the running session"


def record_call(trail: Trail, call: Call, reading: Recorded) -> None:
    """Add ``call`` to the trail, after it was scored."""
    signature = reading.signature or call_signature(call)
    trail.signatures[signature] = trail.signatures.get(signature, 0) + 1
    trail.last_error = False
    if reading.named_keys:
        trail.named_keys = grown(trail.named_keys, reading.named_keys)
    if reading.paged:
        pages = trail.pages = owned(trail.pages)
        pages[call.tool] = pages.get(call.tool, 0) + 1
    if reading.volume:
        records = trail.records = owned(trail.records)
        records[call.tool] = records.get(call.tool, 0.0) + reading.volume
    trail.call_count += 1
    counted = tool_key(call)
    counts = trail.tool_counts
    seen = counts.get(counted)
    if seen is None:  # the key is kept: one copy of each name for all sessions
        counts[sys.intern(counted)] = 1
    else:
        counts[counted] = seen + 1
    trail.kind_counts[reading.kind] = trail.kind_counts.get(reading.kind, 0) + 1
    times = trail.call_times
    times.append(reading.at or call.event_time.timestamp())
    if len(times) > 64:
        del times[:32]
    used = [
        raw.strip().lower() for _, raw in text.leaf_values(call.arguments) if 3 <= len(raw) <= 200
    ]
    if used:
        trail.used_values = grown(trail.used_values, used)
