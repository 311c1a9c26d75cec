"""The scoring stage on stitched batches: the trail it feeds, the drift rows and the
contractions it decides, whatever the batch split. The model here is a small rule of the
test's own (a value first seen in a tool result, sent by a write, drifts), so that what is
tested is the stage: what it feeds the model, in which order, and what it makes of a score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from kernel.codec import Envelope
from kernel.contraction import HALT, NARROW, Contraction
from kernel.declaration import parse_declaration
from kernel.policy import Policy, PolicyFile
from kernel.vocabulary import ATTR_RESULT_TEXT, ATTR_TOOLS_DIGEST
from models.trail import Call, DeclaredIntent, DriftScore, SessionTrail, ToolInfo
from processors.scoring import DriftStage, _SessionDrift
from processors.sessions import MERGE_LOG, StitchState
from processors.stitch import Stitcher
from tests.drift_records import JTI, declaration, injected_session
from tests.scenarios import parse


class _Trail:
    def __init__(self) -> None:
        self.intent: DeclaredIntent | None = None
        self.seen: list[str] = []  # what the stage fed, in order
        self.results: list[str] = []
        self.tools: dict[str, ToolInfo] = {}

    def set_intent(self, intent: DeclaredIntent | None) -> None:
        self.intent = intent
        self.seen.append(f"intent:{intent.text if intent else ''}")

    def set_agent(self, agent: str, delegated: bool = False) -> None:
        self.seen.append(f"agent:{agent}")

    def see_tools(self, server: str, tools: Iterable[ToolInfo]) -> list[str]:
        listed = {t.name: t for t in tools}
        changed = [n for n in listed if n in self.tools and listed[n] != self.tools[n]]
        self.tools.update(listed)
        self.seen.append(f"tools:{server}:{','.join(sorted(listed))}")
        return [f"{n} changed" for n in changed]

    def see_result(self, action_id: str, text: str, is_error: bool = False) -> None:
        self.results.append(text)
        self.seen.append(f"result:{action_id[:6]}")


class _ProvenanceRule:
    """Drift when a written value first appeared in a tool result, not in the intent."""

    version = "test-rule-1"

    def __init__(self) -> None:
        self.trails: list[_Trail] = []

    def new_trail(self) -> SessionTrail:
        trail = _Trail()
        self.trails.append(trail)
        return trail

    def score(self, trail: SessionTrail, call: Call) -> DriftScore:
        assert isinstance(trail, _Trail)
        trail.seen.append(f"call:{call.tool}")
        intent = trail.intent
        if intent is not None and intent.tools and call.tool not in intent.tools:
            return DriftScore(1.0, True, (f"{call.tool} not declared",), self.version, True)
        for value in _values(call.arguments):
            in_intent = intent is not None and value in intent.text
            if not in_intent and any(value in text for text in trail.results):
                reason = f"{value} first seen in a tool result"
                return DriftScore(0.8, True, (reason,), self.version)
        return DriftScore(0.05, False, (), self.version)

    def score_many(self, items: Sequence[tuple[SessionTrail, Call]]) -> list[DriftScore]:
        return [self.score(trail, call) for trail, call in items]


def _values(arguments: Mapping[str, Any]) -> list[str]:
    return [v for v in arguments.values() if isinstance(v, str) and "@" in v]


def _run(
    envelopes: list[Envelope],
    batches: list[list[int]],
    tools: list[str] | None = None,
    policy: Policy | None = None,
) -> tuple[DriftStage, list[dict[str, Any]], list[Contraction]]:
    stitcher = Stitcher()
    if tools is not None:
        stitcher.declare(parse_declaration(declaration(tools)))
    stage = DriftStage(_ProvenanceRule(), policy, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    rows: list[dict[str, Any]] = []
    published: list[Contraction] = []
    for number, batch in enumerate(batches):
        chosen = [envelopes[i] for i in batch]
        out = stitcher.process(chosen)
        scored, contractions = stage.score(stitcher.state, out, number + 1)
        rows += scored.drift
        published += contractions
        assert [r["contraction_id"] for r in scored.contractions] == [
            c.contraction_id for c in contractions
        ]
    return stage, rows, published


def test_a_value_injected_by_a_result_and_sent_is_contracted_with_its_reasons() -> None:
    envelopes = parse(injected_session())
    stage, rows, published = _run(envelopes, [list(range(len(envelopes)))], tools=[])
    by_tool = {(r["tool"], r["decision"]) for r in rows}
    assert by_tool == {("read_inbox", "allow"), ("send_mail", NARROW), ("send_mail", "allow")}
    [contraction] = published
    assert contraction.decision == NARROW
    assert contraction.session_id == "s-mail-1"
    assert contraction.removed_tools == ("send_mail",)
    assert contraction.remaining_tools == ("read_inbox",)
    assert contraction.removed_scopes == ("mail.send",)  # a send: the scope that grants it
    assert contraction.reasons == ("archive@outside.example first seen in a tool result",)
    assert contraction.model_version == "test-rule-1"
    assert ("jti", JTI) in contraction.keys
    assert not any(key_type == "mcp_rpc" for key_type, _ in contraction.keys)
    [flagged] = [r for r in rows if r["flagged"]]
    assert flagged["contraction_id"] == contraction.contraction_id
    assert flagged["reasons"] == list(contraction.reasons)
    # The trail saw the intent, the tool list and the inbox's text before the send.
    trail = stage.scorer.trails[0]  # type: ignore[attr-defined]
    order = [s.split(":")[0] for s in trail.seen]
    assert order.index("tools") < order.index("call") < order.index("result")
    assert trail.seen[order.index("result") + 1] == "call:send_mail"
    assert stage.stats.scored == 3 and stage.stats.contractions == 1


@pytest.mark.parametrize("split", ["one_by_one", "reversed_pairs"])
def test_the_decisions_do_not_depend_on_how_the_stream_was_batched(split: str) -> None:
    envelopes = parse(injected_session())
    whole = _run(envelopes, [list(range(len(envelopes)))], tools=[])
    if split == "one_by_one":
        batches = [[i] for i in range(len(envelopes))]
    else:  # each result in the same batch as its request, the later message first
        batches = [[1, 0], [3, 2], [4], [5]]
    parts = _run(envelopes, batches, tools=[])

    def decided(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
        return sorted((r["action_id"], r["decision"], r["flagged"]) for r in rows)

    assert decided(parts[1]) == decided(whole[1])
    assert [c.contraction_id for c in parts[2]] == [c.contraction_id for c in whole[2]]


def test_a_tool_outside_the_declaration_halts_the_session_and_nothing_more_is_published() -> None:
    envelopes = parse(injected_session(reply_to="archive@outside.example"))
    _, rows, published = _run(envelopes, [list(range(len(envelopes)))], tools=["read_inbox"])
    [contraction] = published  # the second send is scored, and refused already: no new one
    assert contraction.decision == HALT
    assert contraction.removed_tools == ("read_inbox",)  # every tool: nothing remains
    assert contraction.remaining_tools == ()
    sends = [r for r in rows if r["tool"] == "send_mail"]
    assert [r["out_of_bounds"] for r in sends] == [True, True]
    assert [bool(r["contraction_id"]) for r in sends] == [True, False]


def test_a_policy_rule_for_the_agent_decides_instead_of_the_defaults() -> None:
    envelopes = parse(injected_session())
    strict = Policy(
        PolicyFile.model_validate(
            {
                "rules": [
                    {"name": "mail", "match": {"agent": "mail-*"}, "narrow": "never", "halt": 0.7}
                ]
            }
        ),
        "strict.yaml",
    )
    _, rows, published = _run(envelopes, [list(range(len(envelopes)))], tools=[], policy=strict)
    [contraction] = published
    assert contraction.decision == HALT
    assert contraction.policy_rule == "strict.yaml:mail"
    assert [r["policy_rule"] for r in rows if r["flagged"]] == ["mail"]


def test_a_result_reads_the_same_from_what_its_event_carries_as_from_its_record() -> None:
    envelopes = parse(injected_session())
    # Every result carries its text but the tools/list answer, which names its catalogue.
    texts = [e for e in envelopes if ATTR_RESULT_TEXT in e.event.attributes]
    [listing] = [e for e in envelopes if ATTR_TOOLS_DIGEST in e.event.attributes]
    kinds = [e.event.kind for e in envelopes]
    assert len(texts) == kinds.count("tool_result") - 1
    carried, carried_rows, carried_published = _run(envelopes, [list(range(len(envelopes)))])
    # As an ingest that carried neither sent them: the stage parses each record.
    for envelope in [*texts, listing]:
        envelope.event.attributes.pop(ATTR_RESULT_TEXT, None)
        envelope.event.attributes.pop(ATTR_TOOLS_DIGEST, None)
    parsed, parsed_rows, parsed_published = _run(envelopes, [list(range(len(envelopes)))])
    assert carried_rows == parsed_rows and carried_published == parsed_published
    assert isinstance(carried.scorer, _ProvenanceRule) and isinstance(
        parsed.scorer, _ProvenanceRule
    )
    assert [t.seen for t in carried.scorer.trails] == [t.seen for t in parsed.scorer.trails]
    assert [t.results for t in carried.scorer.trails] == [t.results for t in parsed.scorer.trails]
    assert any(s.startswith("tools:") for t in carried.scorer.trails for s in t.seen)
    assert any("@" in text for t in carried.scorer.trails for text in t.results)


def test_a_catalogue_named_by_its_digest_is_read_once_for_every_session() -> None:
    envelopes = parse(injected_session())
    stage, _, _ = _run(envelopes, [list(range(len(envelopes)))])
    [(digest, tools)] = stage._listings.items()
    [listing] = [e for e in envelopes if ATTR_TOOLS_DIGEST in e.event.attributes]
    assert digest == listing.event.attributes[ATTR_TOOLS_DIGEST]
    assert {t.name for t in tools} >= {"read_inbox", "send_mail"}


def test_a_result_without_text_content_still_reaches_the_trail_as_its_structure() -> None:
    from kernel.mcp_results import result_text

    assert result_text({"content": [{"type": "text", "text": "a"}, {"type": "image"}]}) == "a"
    structured = {"content": [], "structuredContent": {"to": "x@y.example"}}
    assert orjson.loads(result_text(structured)) == {"to": "x@y.example"}


def test_trying_a_removed_tool_again_publishes_no_second_narrowing() -> None:
    envelopes = parse(injected_session(reply_to="archive@outside.example"))
    _, rows, published = _run(envelopes, [[i] for i in range(len(envelopes))], tools=[])
    [contraction] = published
    assert contraction.decision == NARROW and contraction.removed_tools == ("send_mail",)
    sends = [r for r in rows if r["tool"] == "send_mail"]
    # Both sends drift and both are narrowings; only the first takes anything away.
    assert [(r["decision"], bool(r["contraction_id"])) for r in sends] == [
        (NARROW, True),
        (NARROW, False),
    ]


def test_a_restarted_stage_knows_what_it_contracted_and_publishes_it_again_for_nothing() -> None:
    envelopes = parse(injected_session(reply_to="archive@outside.example"))
    first, _, [narrowed] = _run(envelopes, [list(range(5))], tools=[])  # up to the first send
    stored = [
        {
            "contraction_id": narrowed.contraction_id,
            "session_id": narrowed.session_id,
            "decision": narrowed.decision,
            "removed_tools": list(narrowed.removed_tools),
            "removed_scopes": list(narrowed.removed_scopes),
        }
    ]
    # A new stage, as after a restart, told what the ledger holds: the second send would
    # narrow the same tool again, and publishes nothing.
    stitcher = Stitcher()
    stitcher.declare(parse_declaration(declaration([])))
    stage = DriftStage(_ProvenanceRule(), clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    stage.restore(stored)
    out = stitcher.process(envelopes)
    _, published = stage.score(stitcher.state, out, 1)
    assert published == []
    # Without what the ledger holds, the same stream would have published it again.
    fresh = DriftStage(_ProvenanceRule(), clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    again = Stitcher()
    again.declare(parse_declaration(declaration([])))
    out = again.process(envelopes)
    _, published = fresh.score(again.state, out, 1)
    assert [c.contraction_id for c in published] == [narrowed.contraction_id]
    assert first.stats.contractions == 1


def test_a_session_merged_into_another_keeps_what_the_policy_took_from_it() -> None:
    """The events come first and start a session of their own; the declaration arrives
    after the first send was contracted and merges that session into the declared one,
    which has a trail of its own by then: what was taken away stands for the merged one."""
    envelopes = parse(injected_session(reply_to="archive@outside.example"))
    stitcher = Stitcher()
    stage = DriftStage(_ProvenanceRule(), clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    published = []
    for env in envelopes[:5]:  # up to and with the first send: contracted
        out = stitcher.process([env])
        published += stage.score(stitcher.state, out, 1)[1]
    assert [c.decision for c in published] == [NARROW]
    first_root = published[0].session_id
    stitcher.declare(parse_declaration(declaration([])))
    stage._session(stitcher.state, "s-mail-1")  # the declared session's own trail
    out = stitcher.process(envelopes[5:])
    published += stage.score(stitcher.state, out, 2)[1]
    assert stitcher.state.resolve(first_root) == "s-mail-1"
    assert set(stage.sessions) == {"s-mail-1"}
    assert stage.sessions["s-mail-1"].removed == {"send_mail"}
    assert stage.sessions["s-mail-1"].narrowings == 1
    assert len(published) == 1


def test_a_restarted_stage_fed_the_recorded_calls_and_results_scores_as_before() -> None:
    """A worker restarts after the inbox was read: its stage is fed the calls and results
    the ledger recorded (each with the session it joined) and scores the send that follows
    as the uninterrupted stage did; without them the injected address would pass."""
    envelopes = parse(injected_session(reply_to="archive@outside.example"))
    before, after = envelopes[:4], envelopes[4:]  # up to the inbox's text; the sends
    _, uninterrupted, _ = _run(envelopes, [list(range(4)), list(range(4, len(envelopes)))], [])

    def restarted(feed: bool) -> list[dict[str, Any]]:
        stitcher = Stitcher()
        stitcher.declare(parse_declaration(declaration([])))
        out = stitcher.process(before)  # the stitch state, as restore_state gives it back
        recorded = {row["event_id"]: row["session_id"] for row in out.raw_events}
        access = {row["action_id"]: row["access"] for row in out.actions}
        stage = DriftStage(_ProvenanceRule(), clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
        if feed:
            fed = stage.restore_trails(
                stitcher.state,
                [
                    (env.event, recorded[env.event.event_id], access.get(env.event.event_id, ""))
                    for env in before
                ],
            )
            assert fed == 3  # the listing's answer, the read, its result (not the request)
            assert stage.stats.scored == 0  # feeding records and counts nothing
        out = stitcher.process(after)
        scored, _ = stage.score(stitcher.state, out, 2)
        return scored.drift

    def decisions(rows: list[dict[str, Any]]) -> list[tuple[str, float, bool]]:
        return [(r["tool"], r["score"], r["flagged"]) for r in rows if r["tool"] == "send_mail"]

    expected = decisions(uninterrupted)
    assert expected[0] == ("send_mail", 0.8, True)
    assert decisions(restarted(feed=True)) == expected
    assert decisions(restarted(feed=False))[0] == ("send_mail", 0.05, False)


def _drift(stage: DriftStage, sid: str) -> _SessionDrift:
    """A session's context from which the policy took a tool of its own."""
    drift = _SessionDrift(stage.scorer.new_trail())
    drift.removed = frozenset({f"tool-{sid}"})
    return drift


def _merge(state: StitchState, alias: str, root: str) -> None:
    state.aliases[alias] = root
    state.note_alias(alias)


def test_trails_follow_the_merges_logged_since_the_last_batch_alone() -> None:
    """A chain of merges (a into b, then b into c) leaves one context, holding what the
    policy took from each; the sessions no merge since touched are not looked at, so a
    worker holding many sessions pays for the merges, not for the sessions."""
    state = StitchState()
    stage = DriftStage(_ProvenanceRule())
    others = {f"other-{n}" for n in range(50)}
    for sid in ("a", "b", "c", *others):
        stage.sessions[sid] = _drift(stage, sid)
    stage._follow_merges(state)
    _merge(state, "a", "b")
    _merge(state, "b", "c")
    # An alias the log does not name: were every session resolved, it would move too.
    state.aliases["other-0"] = "c"
    stage._follow_merges(state)
    assert set(stage.sessions) == {"c", *others}
    assert stage.sessions["c"].removed == {"tool-a", "tool-b", "tool-c"}


def test_trails_follow_merges_past_the_log_by_looking_at_every_session() -> None:
    state = StitchState()
    stage = DriftStage(_ProvenanceRule())
    for sid in ("a", "b"):
        stage.sessions[sid] = _drift(stage, sid)
    stage._follow_merges(state)
    _merge(state, "a", "b")
    for n in range(MERGE_LOG):  # the log no longer reaches back to a's merge
        _merge(state, f"gone-{n}", "b")
    assert state.merged_since(1) is not None and state.merged_since(0) is None
    stage._follow_merges(state)
    assert set(stage.sessions) == {"b"}
    assert stage.sessions["b"].removed == {"tool-a", "tool-b"}
