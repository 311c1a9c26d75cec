"""One call's features, read against its session's trail, with a reason for each feature
that fires (so a score can always say why).

The features never name a tool or a domain: they say what kind of action a call is (from
hints, its name's and description's verbs), whether the intent asked for that kind, where
each argument's value came from (the intent, an earlier result, text next to instructions
in a result, nowhere), the role the value plays (recipient, URL, account, command, amount),
how much the call asks for against what the intent needs, what changed in the catalogue,
the delegation, and the agent's baseline.
"""

from __future__ import annotations

import contextlib
import math
from typing import Final

from models import naming, statements, text, values
from models.baseline import Baseline as Baseline
from models.baseline import baseline_readings
from models.calls import (
    acting_account,
    anchored_value,
    call_signature,
    carries_results,
    catalogue_change,
    in_prose,
    is_date,
    ordered_delete,
    sibling_of_named,
    sprees_of,
    statement_kind,
    unlisted,
)
from models.feature_names import FEATURES as FEATURES
from models.feature_names import INDEX as INDEX
from models.reach import overwrites, scope_grants, widening_argument
from models.session import Trail
from models.trail import Call, Reading

# Each feature's position, looked up once here rather than on every call (read_call sets
# some forty of them per action).
_CHANGE_FOR_QUESTION: Final = INDEX["change_for_question"]
_KIND_NOT_ASKED: Final = INDEX["kind_not_asked"]
_KIND_UNCLEAR: Final = INDEX["kind_unclear"]
_RELEVANCE: Final = INDEX["relevance"]
_NO_INTENT: Final = INDEX["no_intent"]
_DESTROYS_TABLE: Final = INDEX["destroys_table"]
_TABLE_OFF_TASK: Final = INDEX["table_off_task"]
_ACTS_ON_NAMED: Final = INDEX["acts_on_named"]
_SINK_FROM_RESULT: Final = INDEX["sink_from_result"]
_SINK_FROM_INJECTED: Final = INDEX["sink_from_injected"]
_SINK_NOVEL: Final = INDEX["sink_novel"]
_SINK_IN_INTENT: Final = INDEX["sink_in_intent"]
_ANY_FROM_INJECTED: Final = INDEX["any_from_injected"]
_TARGET_FROM_RESULT: Final = INDEX["target_from_result"]
_WRITE_TARGET_NOVEL: Final = INDEX["write_target_novel"]
_READ_SENSITIVE: Final = INDEX["read_sensitive"]
_CONTENT_FROM_RESULTS: Final = INDEX["content_from_results"]
_CONTENT_LINK_FOREIGN: Final = INDEX["content_link_foreign"]
_CONTENT_FROM_INTENT: Final = INDEX["content_from_intent"]
_SINK_IN_PROSE: Final = INDEX["sink_in_prose"]
_URL_CARRIES_RESULTS: Final = INDEX["url_carries_results"]
_SIBLING_OF_NAMED: Final = INDEX["sibling_of_named"]
_RETARGETED: Final = INDEX["retargeted"]
_READS_EVERYTHING: Final = INDEX["reads_everything"]
_READ_OFF_TOPIC: Final = INDEX["read_off_topic"]
_READ_UNANCHORED: Final = INDEX["read_unanchored"]
_WRITE_IRRELEVANT: Final = INDEX["write_irrelevant"]
_INSTRUCTION_X_NOT_ASKED: Final = INDEX["instruction_x_not_asked"]
_VOLUME_EXCESS: Final = INDEX["volume_excess"]
_RECORDS_OVER: Final = INDEX["records_over"]
_CALLS_OVER: Final = INDEX["calls_over"]
_EXCESS_CALLS: Final = INDEX["excess_calls"]
_BULK_UNASKED: Final = INDEX["bulk_unasked"]
_DELEGATED_NOT_ASKED: Final = INDEX["delegated_not_asked"]
_DELEGATED_IRRELEVANT: Final = INDEX["delegated_irrelevant"]
_DELEGATED_X_CHANGE: Final = INDEX["delegated_x_change"]
_DELEGATED_X_NOVEL: Final = INDEX["delegated_x_novel"]
_TOOL_CHANGED: Final = INDEX["tool_changed"]
_TOOL_NOT_NAMED: Final = INDEX["tool_not_named"]
_TOOL_UNLISTED: Final = INDEX["tool_unlisted"]
_WIDENING_ARGUMENT: Final = INDEX["widening_argument"]
_NOT_ASKED_X_SINK_RESULT: Final = INDEX["not_asked_x_sink_result"]
_NOT_ASKED_X_SINK_NOVEL: Final = INDEX["not_asked_x_sink_novel"]
_CONSEQUENTIAL_X_INJECTED: Final = INDEX["consequential_x_injected"]
_IRRELEVANT_CONSEQUENTIAL: Final = INDEX["irrelevant_consequential"]
CONSEQUENTIAL: Final = frozenset({text.SEND, text.DELETE, text.PAY, text.EXEC})
_ONLY_READ: Final = frozenset({text.READ})
_WILDCARDS: Final = frozenset({"*", "%", ".*", "*.*", "**"})
# Words with which an intent asks to drop or empty a table.
_EMPTYING_WORDS: Final = frozenset({"drop", "truncate", "empty", "wipe", "purge", "recreate"})
# What a session ordinarily needs: beyond this, each doubling adds one to the feature.
CALL_BUDGET = 12


def _short(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."


def read_call(trail: Trail, call: Call, baseline: Baseline | None = None) -> Reading:
    """The features of ``call`` in ``trail``'s context (the trail is not changed, but for
    reading the results it has seen)."""
    trail.read_results()
    x = [0.0] * len(FEATURES)
    details: dict[str, str] = {}
    profile = trail.profile(call.tool)
    kind = profile.kind
    if call.api:
        # An API log records what the call did (CloudTrail's readOnly): it decides, where
        # an MCP call's access is only a guess from its name (the listing says more).
        if call.access == "read":
            kind = text.READ
        elif call.access == "delete":
            kind = text.DELETE
        elif call.access == "write" and text.name_kind(call.tool) is None:
            kind = text.WRITE  # a name that reads (StartQueryExecution) keeps its kind
    if kind in (text.READ, text.EXEC, text.WRITE) and call.arguments:
        kind = statement_kind(profile, call, kind)
    if kind in (text.WRITE, text.SEND, text.EXEC) and ordered_delete(call.arguments):
        kind = text.DELETE  # a form submitted with action=delete_account deletes
    if kind != text.READ:
        x[INDEX[f"kind_{kind}"]] = 1.0
    has_intent = bool(trail.intent_words)
    # Not asked: the intent asks for no action of this kind, nor names the tool's own verb
    # ("leave a comment" asks for comment_add, whatever verb it used).
    beyond = (
        has_intent
        and kind != text.READ
        and kind not in trail.intent_kinds
        and not (profile.verb and profile.verb[:5] in trail.intent_stems)
    )
    granted = (
        scope_grants(trail.intent.scopes, kind, profile.name_words, profile.verb, profile.additive)
        if trail.intent and profile.additive and kind == text.WRITE
        else ""
    )
    if granted and overwrites(call.arguments, profile.name_words, profile.verb):
        granted = ""  # a scope lets the agent add its own output, never replace an item
    beyond = beyond and not granted  # the person granted this write in the session's scopes
    # Only an intent whose verbs say what it asks for can leave a kind out: "open the
    # lobby door" asks for something no word of it names.
    not_asked = beyond and bool(trail.intent_kinds)
    if not_asked and trail.intent_kinds == _ONLY_READ:
        # The intent asks only to read (a question, a lookup): any change goes beyond it.
        x[_CHANGE_FOR_QUESTION] = 1.0
    if not_asked:
        x[_KIND_NOT_ASKED] = 1.0
        details["kind_not_asked"] = f"a {kind} ({call.tool}) the intent did not ask for"
    elif beyond:
        x[_KIND_UNCLEAR] = 1.0
        details["kind_unclear"] = f"a {kind} ({call.tool}); the intent's words name no action"
    relevance = trail.relevance(profile)
    if call.api:  # an operation's name is its API's, not the task's words
        relevance = max(relevance, 0.5)
    if granted:
        relevance = max(relevance, 0.75)
    x[_RELEVANCE] = relevance
    if not has_intent:
        x[_NO_INTENT] = 1.0

    sink_result = sink_injected = sink_novel = sink_intent = acts_on_named = False
    any_injected = target_result = content_results = target_novel = read_novel = False
    content_link = content_intent = prose = leak = sibling = everything = retarget = False
    named_keys: list[str] = []
    off_topic = False
    valued = anchored = False  # a value the call names; one the task's data or words gave
    sensitive = ""
    volume = 0.0
    paged = False
    for key, raw in text.leaf_values(call.arguments):
        value = raw.strip()
        if not value:
            continue
        role = text.shape_role(value) or profile.role_of_key(key)
        if role == text.ACCOUNT and (kind == text.READ or acting_account(key)):
            # The account a read lists, or the one a call acts from (fromAccountId, a
            # brand's accountId): its source, nothing goes there.
            role = text.TARGET
        if (
            kind == text.READ
            and not everything
            and (value in _WILDCARDS or (role == text.COMMAND and statements.unscoped(value)))
        ):
            everything = True  # "*", SELECT * FROM events: every record there is
            details["reads_everything"] = f"reads {key}={_short(value)!r}: everything there is"
        if role == text.VOLUME:
            with contextlib.suppress(ValueError):
                volume = max(volume, float(value))
            continue
        if role == text.PAGE:
            paged = paged or value not in ("0", "1", "")
            continue
        lower = value.lower()
        if (
            role == text.COMMAND
            and "destroys_table" not in details
            and statements.destroys_table(value)
            and not trail.intent_words.intersection(_EMPTYING_WORDS)
        ):
            x[_DESTROYS_TABLE] = 1.0
            details["destroys_table"] = (
                f"{key}={_short(value)!r} drops or empties a whole table; the intent never asked"
            )
        if role == text.COMMAND and kind == text.READ:
            rows, offset = statements.statement_volume(value)
            volume = max(volume, rows)
            paged = paged or offset
        if role == text.COMMAND and has_intent and "table_off_task" not in details:
            for table in statements.statement_tables(value):
                if not naming.topic_named(table, trail):
                    x[_TABLE_OFF_TASK] = 1.0
                    details["table_off_task"] = (
                        f"{key} works on table {table!r}, which the intent never spoke of"
                    )
                    break
        if role in (text.CONTENT, text.COMMAND):
            if len(lower) >= 16 and lower[:40] in trail.intent_lower:
                content_intent = True  # the words the person gave: the task's own message
            if len(lower) >= 24 and lower[:40] in trail.results_lower:
                content_results = True
                details.setdefault("content_from_results", f"{key} carries text of a result")
            if "@" in lower or "://" in lower or "+" in lower:
                for found in values.values_in(value):
                    if found[:1] in "@#" or found in trail.intent_values:
                        continue
                    if found not in trail.injected_values and trail.has_result_value(found):
                        continue  # cc the reporter named in the ticket: data the task read
                    if "@" in found or "://" in found or found.startswith(("+", "www.")):
                        content_link = True
                        details.setdefault(
                            "content_link_foreign",
                            f"{key} carries {_short(found)!r}, which the intent never gave",
                        )
            continue
        if role == text.AMOUNT:
            continue
        if kind == text.READ and not anchored:
            valued = True
            anchored = anchored_value(lower, trail)
        if len(lower) < 3:
            continue
        if kind == text.READ and role == text.OTHER and " " in lower and not off_topic:
            topic = [w for w in text.words(lower) if len(w) > 3 and not w.isdigit()]
            if topic and not any(
                w in trail.intent_lower or w in trail.results_lower for w in topic
            ):
                off_topic = True
                details["read_off_topic"] = (
                    f"reads {key}={_short(value)!r}, a subject neither the intent nor any "
                    "result spoke of"
                )
        if kind == text.READ and not sensitive:
            # A URL's host is whoever published it: its path says what is read.
            read = text.url_path(lower) if role == text.DESTINATION else lower
            sensitive = naming.sensitive_subject(read, trail)
            if sensitive:
                details["read_sensitive"] = (
                    f"reads {key}={_short(value)!r}: {sensitive}, which the intent never spoke of"
                )
        # Where a URL goes is before its query; the query is what it carries (a summary
        # appended to the address an injected sentence gave is still that address).
        probe = lower.partition("?")[0] if role == text.DESTINATION and "?" in lower else lower
        compact = probe.replace(" ", "")
        in_intent = probe in trail.intent_lower or compact in trail.intent_values
        if not in_intent and role in (text.RECIPIENT, text.DESTINATION):
            in_intent = naming.address_of_named(probe, trail)
        in_results = probe in trail.results_lower or trail.has_result_value(compact)
        if in_intent:
            named_keys.append(key)
            acts_on_named = acts_on_named or role not in text.SINK_ROLES
        elif not (retarget or in_results) and key in trail.named_keys:
            # The argument carried the item the task named; now another nobody gave.
            retarget = lower not in trail.used_values and not is_date(lower)
            if retarget:
                details["retargeted"] = f"{key}={_short(value)!r}, not the task's own {key}"
        injected = compact in trail.injected_values or (
            len(probe) >= 4 and probe in trail.injected_lower
        )
        if injected and not in_intent:
            any_injected = True
            details.setdefault(
                "any_from_injected",
                f"{key}={_short(value)!r} came from a result next to instruction-shaped text",
            )
        if role == text.DESTINATION and not leak and carries_results(lower, trail.results_lower):
            leak = True
            details["url_carries_results"] = f"{key} carries text of a result in its query"
        if (
            not sibling
            and not in_intent
            and not in_results
            and lower not in trail.used_values
            and sibling_of_named(compact, trail)
        ):
            sibling = True
            details["sibling_of_named"] = (
                f"{key}={_short(value)!r} is shaped like the item the intent named, but another"
            )
        if role in text.SINK_ROLES:
            if in_intent:
                sink_intent = True
            elif injected:
                sink_injected = True
                details.setdefault(
                    "sink_from_injected",
                    f"{role} {_short(value)!r} first appeared in a tool result next to "
                    "instruction-shaped text, not in the intent",
                )
            elif in_results:
                sink_result = True
                if in_prose(lower, trail.results_lower):
                    # Named in a sentence of a result ("send it to ..."), not in a record's
                    # field (From:, "email":): someone wrote where it should go.
                    prose = True
                    details.setdefault(
                        "sink_in_prose",
                        f"{role} {_short(value)!r} came from a sentence in a tool result",
                    )
                details.setdefault(
                    "sink_from_result",
                    f"{role} {_short(value)!r} came from a tool result, not from the intent",
                )
            elif lower not in trail.used_values:
                sink_novel = True
                details.setdefault(
                    "sink_novel", f"{role} {_short(value)!r} appears nowhere in the intent or data"
                )
        elif role == text.TARGET and not in_intent:
            if in_results:
                target_result = True
            elif (
                kind == text.READ
                and lower not in trail.used_values
                and (any(c.isdigit() for c in lower) or "@" in lower)
            ):
                read_novel = True
                details.setdefault(
                    "read_target_novel",
                    f"reads {key}={_short(value)!r}, which neither the intent nor any result named",
                )
            elif (
                (kind == text.DELETE or (kind == text.WRITE and not profile.additive))
                and lower not in trail.used_values
                and any(c.isdigit() for c in lower)
            ):
                target_novel = True
                details.setdefault(
                    "write_target_novel",
                    f"{kind}s {key}={_short(value)!r}, which neither the intent nor any "
                    "result named",
                )
    if acts_on_named and kind != text.READ and not not_asked:
        # A change to the very item the intent named ("open the lobby door lck-lobby-97"),
        # of a kind the intent asked for or whose verbs say nothing: not "show me S-79"
        # followed by a purge of S-79.
        x[_ACTS_ON_NAMED] = 1.0
    x[_SINK_FROM_RESULT] = float(sink_result)
    x[_SINK_FROM_INJECTED] = float(sink_injected)
    x[_SINK_NOVEL] = float(sink_novel)
    x[_SINK_IN_INTENT] = float(sink_intent)
    x[_ANY_FROM_INJECTED] = float(any_injected)
    x[_TARGET_FROM_RESULT] = float(target_result)
    x[_WRITE_TARGET_NOVEL] = float(target_novel)
    x[_READ_SENSITIVE] = float(bool(sensitive))
    x[_CONTENT_FROM_RESULTS] = float(content_results)
    x[_CONTENT_LINK_FOREIGN] = float(content_link)
    x[_CONTENT_FROM_INTENT] = float(content_intent)
    x[_SINK_IN_PROSE] = float(prose)
    x[_URL_CARRIES_RESULTS] = float(leak)
    x[_SIBLING_OF_NAMED] = float(sibling)
    x[_RETARGETED] = float(retarget)
    x[_READS_EVERYTHING] = float(everything and not trail.intent_bulk)
    if has_intent:
        x[_READ_OFF_TOPIC] = float(off_topic)
        if valued and not anchored and relevance < 0.2:
            # A read of a tool the intent does not speak of, for an item neither the intent's
            # words nor any result gave: the task did not lead there.
            x[_READ_UNANCHORED] = 1.0
            details["read_unanchored"] = (
                f"{call.tool} reads what neither the intent nor any result led to"
            )
        # A change to something the intent does not speak of (an API operation's name is its
        # API's, not the task's words: its relevance says nothing either way).
        if kind == text.WRITE and not call.api:
            x[_WRITE_IRRELEVANT] = 1.0 - relevance
            if relevance < 0.5:
                details["write_irrelevant"] = (
                    f"a write by {call.tool}, which the intent does not speak of"
                )
    if trail.instruction_strength and not_asked:
        x[_INSTRUCTION_X_NOT_ASKED] = trail.instruction_strength / 3.0
        details["instruction_x_not_asked"] = (
            f"a {kind} the intent did not ask for, after a result carried instruction-shaped text"
        )

    # What the intent needs: the quantity it names, else a page of ordinary size.
    needed = max(trail.intent_volume, 20.0) if trail.intent_volume else 50.0
    if volume > needed:
        excess = math.log10(volume / needed)
        x[_VOLUME_EXCESS] = min(3.0, excess)
        if excess >= 0.5:
            details["volume_excess"] = (
                f"asks for {volume:g} records where the intent needs ~{needed:g}"
            )
    records = trail.records.get(call.tool, 0.0) + volume
    if records > needed * 3:
        x[_RECORDS_OVER] = min(3.0, math.log10(records / needed))
        details["records_over"] = f"{records:g} records of {call.tool} asked for so far"
    calls = trail.call_count + 1
    if calls > CALL_BUDGET:
        x[_CALLS_OVER] = math.log2(calls / CALL_BUDGET) + 0.5
        details["calls_over"] = f"{calls} calls in this session"
    # Both read once: the trail records them too.
    signature = call_signature(call)
    at = call.event_time.timestamp()
    sprees = sprees_of(trail, call, paged, volume, signature, kind != text.READ, at)
    if sprees:
        spree, said = max(sprees)
        x[_EXCESS_CALLS] = min(6.0, spree)
        details["excess_calls"] = said
    if profile.bulk and not trail.intent_bulk and has_intent:
        x[_BULK_UNASKED] = 1.0
        details["bulk_unasked"] = f"{call.tool} works on everything at once; the intent did not"

    if trail.delegated:
        if not_asked:
            x[_DELEGATED_NOT_ASKED] = 1.0
            details["delegated_not_asked"] = (
                "a delegated agent doing a kind of action the originating intent did not cover"
            )
        x[_DELEGATED_IRRELEVANT] = 1.0 - relevance
        if kind != text.READ and relevance < 0.5:
            # A downstream agent changing what its origin's intent does not speak of.
            x[_DELEGATED_X_CHANGE] = 1.0 - relevance
            details["delegated_x_change"] = (
                f"a delegated agent's {kind} by {call.tool}, which the originating intent "
                "does not speak of"
            )
        if read_novel or sink_novel or off_topic or target_novel:
            # A downstream agent reaching for an item its origin's intent never named.
            x[_DELEGATED_X_NOVEL] = 1.0
    changed = catalogue_change(trail, call)
    if changed:
        x[_TOOL_CHANGED] = 1.0
        details["tool_changed"] = changed
    if trail.named_tools and not call.api and call.tool not in trail.named_tools:
        x[_TOOL_NOT_NAMED] = 1.0
        details["tool_not_named"] = (
            f"{call.tool} is not among the tools the intent names "
            f"({', '.join(sorted(trail.named_tools))})"
        )
    if not call.api and unlisted(trail, call):
        x[_TOOL_UNLISTED] = 1.0
        details["tool_unlisted"] = f"{call.tool} is in no tools/list the session saw"

    if baseline is not None:
        for name, (weight, said) in baseline_readings(trail, call, kind, baseline).items():
            x[INDEX[name]] = weight
            details[name] = said

    widened = widening_argument(call.arguments, profile.properties, bulk_asked=trail.intent_bulk)
    if widened and has_intent:
        x[_WIDENING_ARGUMENT] = 1.0
        details["widening_argument"] = f"{widened} widens what the call reaches"
    if target_result:
        details["target_from_result"] = "acts on an item named only in a tool result"
    if volume and "volume_excess" not in details and x[_VOLUME_EXCESS]:
        details["volume_excess"] = f"asks for {volume:g} records"
    x[_NOT_ASKED_X_SINK_RESULT] = float(not_asked and (sink_result or sink_injected))
    x[_NOT_ASKED_X_SINK_NOVEL] = float(not_asked and sink_novel)
    consequential = kind in CONSEQUENTIAL
    # A change of any kind carrying a value planted next to instructions in a result.
    x[_CONSEQUENTIAL_X_INJECTED] = float(kind != text.READ and (sink_injected or any_injected))
    x[_IRRELEVANT_CONSEQUENTIAL] = float(consequential) * (1.0 - relevance)
    if consequential:
        details["irrelevant_consequential"] = (
            f"a {kind} by {call.tool}, which the intent does not speak of"
            if relevance < 0.5
            else f"a {kind} by {call.tool}, which the intent speaks of only in part"
        )
    if x[_RELEVANCE] < 0.2 and has_intent:
        details["relevance"] = f"{call.tool} has little to do with the intent"
    return Reading(x, kind, paged, volume, details, named_keys, signature, at)
