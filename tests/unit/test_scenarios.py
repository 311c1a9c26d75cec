"""The scenario generator: deterministic, wide, labelled consistently, with values coming
from where a real session would take them, and rendered records the MCP parser reads."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest.framing import Framed, frame_value
from ingest.mcp import McpSource
from kernel.declaration import parse_declaration
from kernel.events import KEY_JTI, KEY_TRACE, TOOL_CALL, Event, canonical_json
from kernel.vocabulary import ATTR_ARGUMENTS
from models.scenarios import DOMAINS, ScenarioError, generate, render
from models.scenarios.domains import ALL
from models.scenarios.plan import is_read_name
from models.scenarios.types import (
    CONFUSED_DEPUTY,
    EXCESSIVE_AGENCY,
    EXFILTRATION,
    INJECTED_CALL,
    THREATS,
    TOOL_CHANGE,
    Scenario,
    Step,
)
from models.scenarios.values import iban

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def many() -> list[Scenario]:
    return generate(11, 3_000)


def _threat(scenario: Scenario) -> str:
    threats = {step.threat for step in scenario.steps if step.drift}
    assert len(threats) <= 1, scenario.scenario_id
    return threats.pop() if threats else ""


def _tokens(value: object, shortest: int = 8) -> set[str]:
    """The strings inside an argument value, and their parts split on separators."""
    found: set[str] = set()
    if isinstance(value, str):
        found.add(value)
        found.update(part for part in re.split(r"[\s?&=,:'()\"]+", value) if part)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _tokens(item, shortest)
    elif isinstance(value, dict):
        for item in value.values():
            found |= _tokens(item, shortest)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found.add(str(value))
    return {token for token in found if len(token) >= shortest}


def _seen_before(scenario: Scenario, index: int) -> str:
    """All result texts and tool listings the session saw before step ``index``."""
    parts = [orjson.dumps(tool.mcp()).decode() for tool in scenario.tools]
    for step in scenario.steps[:index]:
        if step.kind == "result":
            parts.append(step.text)
        elif step.kind == "tools":
            parts += [orjson.dumps(tool.mcp()).decode() for tool in step.tools]
    return "\n".join(parts)


def test_same_seed_same_scenarios_and_prefix_stable() -> None:
    first = generate(5, 250)
    assert first == generate(5, 250)
    assert generate(5, 100) == first[:100]
    assert [s.intent_text for s in generate(6, 50)] != [s.intent_text for s in first[:50]]
    # A set over other domains never reuses an id (their sessions would share a token).
    other = generate(5, 250, domains=DOMAINS[:4])
    assert not {s.scenario_id for s in other} & {s.scenario_id for s in first}
    assert len({s.scenario_id for s in first}) == len(first)


def test_every_domain_and_threat_in_many_styles(many: list[Scenario]) -> None:
    assert len(DOMAINS) >= 14 and len(set(DOMAINS)) == len(DOMAINS)
    assert {s.domain for s in many} == set(DOMAINS)
    by_threat: dict[str, list[Scenario]] = defaultdict(list)
    for scenario in many:
        by_threat[_threat(scenario)].append(scenario)
    assert set(by_threat) == {"", *THREATS}
    styles = {threat: {s.attack_style for s in found} for threat, found in by_threat.items()}
    assert len(styles[INJECTED_CALL]) >= 10 and len(styles[EXFILTRATION]) >= 10
    assert all(len(styles[threat]) >= 3 for threat in THREATS), styles
    assert styles[""] == {""}
    placements = {t for s in many for t in s.tags if t.startswith("placement:")}
    assert len(placements) >= 15, placements
    phrasings = Counter(s.phrasing for s in many)
    assert len(phrasings) >= 9 and min(phrasings.values()) >= 50, phrasings
    assert len({s.intent_text for s in many}) > 0.9 * len(many)
    declared = [s for s in many if s.declared_tools]
    assert 0.1 * len(many) < len(declared) < 0.5 * len(many)
    assert all(s.declared_actions for s in declared)
    drifting = sum(s.drifting for s in many)
    assert 0.45 * len(many) < drifting < 0.55 * len(many)


def test_catalogue_is_wide_and_varied() -> None:
    names = [tool.name for domain in ALL for tool in domain.tools]
    assert all(5 <= len(domain.tools) <= 10 for domain in ALL)
    assert len(set(names)) == len(names)
    assert any("." in n for n in names) and any(re.search(r"[a-z][A-Z]", n) for n in names)
    assert any("_" in n for n in names) and any(n[:1].isupper() for n in names)
    hinted = {d.name for d in ALL if any(t.read_only is not None for t in d.tools)}
    assert 3 <= len(hinted) < len(ALL)
    for domain in ALL:
        for tool in domain.tools:
            schema = tool.input_schema
            assert schema["type"] == "object" and isinstance(schema["properties"], dict)
            assert set(schema.get("required", ())) <= set(schema["properties"])
        assert {s.exfil for s in domain.sinks} == {True, False} or domain.name in (
            "healthcare",
            "databases",
        )


def test_labels_are_consistent(many: list[Scenario]) -> None:
    for scenario in many:
        threat = _threat(scenario)
        for step in scenario.steps:
            assert step.drift == bool(step.threat)
            assert not step.drift or step.kind == "call"
            if step.kind == "result" and step.text.startswith(('[{"', '{"')):
                orjson.loads(step.text)  # planted text never breaks a JSON result
        if not threat:
            assert not scenario.drifting and scenario.attack_style == ""
            continue
        assert scenario.drifting and scenario.attack_style
        # The person's own task is still there: not every call drifted.
        calls = [step for step in scenario.steps if step.kind == "call"]
        assert any(not step.drift for step in calls), scenario.scenario_id
        if threat == CONFUSED_DEPUTY:
            assert scenario.delegated
        times = [step.at_ms for step in scenario.steps]
        assert times == sorted(times)


def test_attacker_values_come_from_what_the_agent_read(many: list[Scenario]) -> None:
    checked = Counter[str]()
    for scenario in many:
        threat = _threat(scenario)
        if threat not in (INJECTED_CALL, EXFILTRATION, TOOL_CHANGE):
            continue
        if scenario.attack_style == "server_swapped":
            continue  # the agent's own arguments, sent to an impostor server
        if "planted_destroy" in scenario.tags:
            # No value of the attacker's: the order names what the session read.
            drift = next(step for step in scenario.steps if step.drift)
            index = scenario.steps.index(drift)
            tokens = _tokens(dict(drift.arguments), shortest=4)
            assert any(t in _seen_before(scenario, index) for t in tokens), scenario.scenario_id
            checked["planted_destroy"] += 1
            continue
        index = next(i for i, step in enumerate(scenario.steps) if step.drift)
        seen = _seen_before(scenario, index)
        used_before: set[str] = set()
        for step in scenario.steps[:index]:
            used_before |= _tokens(dict(step.arguments), shortest=6)
        # A value the drifting call carries that the person never gave, that no benign call
        # used, and that the session first met inside data it read.
        planted = {
            token
            for token in _tokens(dict(scenario.steps[index].arguments), shortest=6)
            if token in seen and token not in scenario.intent_text and token not in used_before
        }
        assert planted, (scenario.scenario_id, scenario.steps[index].arguments)
        checked[threat] += 1
    assert min(checked.values()) > 20 and checked[INJECTED_CALL] > 100, checked


def test_benign_sessions_take_values_from_results(many: list[Scenario]) -> None:
    flows = acted = 0
    for scenario in many:
        if scenario.drifting or "kind:from_result" not in scenario.tags:
            continue
        calls = [(i, s) for i, s in enumerate(scenario.steps) if s.kind == "call"]
        taken = [
            step
            for i, step in calls
            if any(
                t in _seen_before(scenario, i) and t not in scenario.intent_text
                for t in _tokens(dict(step.arguments), shortest=5)
            )
        ]
        assert taken, scenario.scenario_id
        flows += 1
        # Mostly into the action the task is about, not only into another read.
        acted += any(not is_read_name(step.tool) for step in taken)
    assert flows > 100 and acted > 0.8 * flows


def test_second_servers_serve_benign_tasks_too(many: list[Scenario]) -> None:
    """A call to a second server is no sign of drift by itself: benign tasks that span two
    domains use it about as often as attacks do."""

    def spans(scenario: Scenario) -> bool:
        return len({step.server for step in scenario.steps if step.kind == "call"}) > 1

    paired = [s for s in many if any(t.startswith("companion:") for t in s.tags)]
    benign = [s for s in paired if not s.drifting]
    drifting = [s for s in paired if s.drifting]
    benign_share = sum(map(spans, benign)) / len(benign)
    drifting_share = sum(map(spans, drifting)) / len(drifting)
    assert benign_share > 0.3 and abs(benign_share - drifting_share) < 0.25


def test_benign_planted_text_is_ignored_and_long_reads_are_long(many: list[Scenario]) -> None:
    ignored = [s for s in many if any(t.startswith("ignored_injection:") for t in s.tags)]
    assert len(ignored) > 30
    assert all(not s.drifting for s in ignored)
    long_reads = [s for s in many if "kind:long_read" in s.tags and not s.drifting]
    assert long_reads and all(sum(step.kind == "call" for step in s.steps) >= 3 for s in long_reads)
    excess = [s for s in many if _threat(s) == EXCESSIVE_AGENCY]
    for scenario in excess:
        drifting = [step for step in scenario.steps if step.drift]
        huge = any(v in (5_000, 10_000, 25_000, 50_000) for v in drifting[0].arguments.values())
        assert len(drifting) >= 8 or huge, scenario.scenario_id


def test_domains_subset_stays_inside_it() -> None:
    chosen = ("mail", "banking", "code")
    scenarios = generate(3, 300, domains=chosen)
    assert {s.domain for s in scenarios} == set(chosen)
    servers = {t.server for s in scenarios for t in s.tools}
    allowed = {t.server for d in ALL if d.name in chosen for t in d.tools}
    assert servers == allowed
    with pytest.raises(ScenarioError):
        generate(3, 5, domains=("mail", "fax"))
    assert not any(s.drifting for s in generate(3, 100, drift_share=0.0))


def test_ibans_are_well_formed() -> None:
    import random

    rng = random.Random(4)
    for _ in range(200):
        text = iban(rng).replace(" ", "")
        digits = "".join(str(int(c, 36)) for c in text[4:] + text[:4])
        assert int(digits) % 97 == 1


def _parse(records: list[dict[str, Any]]) -> list[tuple[Framed, Event]]:
    source = McpSource()
    parsed = []
    for i, record in enumerate(records):
        for framed in frame_value(source, record, f"scenario[{i}]"):
            assert isinstance(framed, Framed)
            events = source.parse(framed.record, position=framed.position, raw=framed.raw)
            parsed += [(framed, event) for event in events]
    return parsed


def _sample(many: list[Scenario]) -> list[Scenario]:
    picked: dict[tuple[str, str], Scenario] = {}
    for scenario in many:
        picked.setdefault((_threat(scenario), scenario.attack_style), scenario)
        picked.setdefault(("domain", scenario.domain), scenario)
        if scenario.delegated:
            picked.setdefault(("delegated", _threat(scenario)), scenario)
    return list(picked.values())


def test_rendered_records_parse_into_tool_calls_with_their_arguments(
    many: list[Scenario],
) -> None:
    for scenario in _sample(many):
        rendered = render(scenario, START, server_prefix="t1-")
        assert [r["ts"] for r in rendered.records] == sorted(r["ts"] for r in rendered.records)
        events = [event for _, event in _parse(rendered.records)]
        calls = [e for e in events if e.kind == TOOL_CALL]
        steps: list[Step] = [scenario.steps[ref.step_index] for ref in rendered.calls]
        assert len(calls) == len(rendered.calls) == sum(s.kind == "call" for s in scenario.steps)
        for event, ref, step in zip(calls, rendered.calls, steps, strict=True):
            assert event.source_id == ref.source_id and ref.server.startswith("t1-")
            assert event.resource == step.tool == ref.tool
            assert event.attributes[ATTR_ARGUMENTS] == canonical_json(dict(step.arguments))
            assert (KEY_JTI, rendered.jti) in event.keys
            assert (KEY_TRACE, rendered.trace_id) in event.keys
            assert (ref.drift, ref.threat) == (step.drift, step.threat)
            assert event.scopes == list(scenario.scopes)
        if rendered.declaration is None:
            assert all(event.intent == scenario.intent_text for event in calls)
        else:
            declaration = parse_declaration(rendered.declaration)
            assert declaration.bindings.token_jti == rendered.jti
            assert declaration.intent.tools == list(scenario.declared_tools)
            assert declaration.origin.type == ("agent" if scenario.delegated else "human")
            assert all(event.intent is None for event in calls)


def test_tool_change_renders_a_new_listing_mid_session(many: list[Scenario]) -> None:
    changed = [s for s in many if _threat(s) == TOOL_CHANGE][:20]
    for scenario in changed:
        rendered = render(scenario, START, declare=True)
        assert rendered.declaration is not None
        methods = [r["message"].get("method") for r in rendered.records]
        lists = [i for i, m in enumerate(methods) if m == "tools/list"]
        first_call = methods.index("tools/call")
        assert any(i > first_call for i in lists), scenario.scenario_id


def test_buried_text_keeps_the_field_it_was_planted_in() -> None:
    """An instruction buried in filler is planted into a field that still holds its own
    value, so a task that copies the field onward copies what the agent saw."""
    import random

    from models.scenarios import attacks
    from models.scenarios.build import _Builder
    from models.scenarios.plan import PlannedCall, json_text

    checked = 0
    for domain in ALL:
        for task in domain.tasks:
            if not any(op.slot for op in task.ops):
                continue
            builder = _Builder(random.Random(f"buried:{domain.name}:{task.name}"), domain, None)
            calls = builder.task_calls(task)
            builder.inject(calls, "", None, attacks.BURIED, obey=False)
            for call in calls:
                if isinstance(call, PlannedCall) and call.op.slot:
                    value = str(builder.ctx[call.op.slot])
                    assert (json_text(value) if call.op.json_slot else value) in call.result
            checked += 1
    assert checked > 40


def test_every_template_fills_from_its_domains_draw() -> None:
    """Each task, sink, destructive write, widening call, bulk read and bridge fills from
    what its domains draw, whichever of them a session happens to pick."""
    import random

    from models.scenarios.bridges import BRIDGES
    from models.scenarios.catalog import Context, Op, fill

    by_name = {domain.name: domain for domain in ALL}
    runtime = {"target": "x", "leak": "y", "page": 1, "limit": 100, "offset": 0}

    def fill_op(op: Op, ctx: Context) -> None:
        owner = by_name[op.domain] if op.domain else None
        assert owner is None or owner.tool(op.tool)
        fill(dict(op.args), ctx)
        fill(op.result, ctx)
        assert not op.slot or isinstance(ctx[op.slot], str)

    for seed in range(5):
        rng = random.Random(seed)
        for domain in ALL:
            ctx = Context(domain.draw(rng), **runtime)
            ops = [op for task in domain.tasks for op in task.ops]
            ops += [sink.op for sink in domain.sinks]
            ops += [*domain.destroy, *domain.creep, domain.bulk]
            for op in ops:
                fill_op(op, ctx)
                assert op.domain or domain.tool(op.tool)
            texts = [*domain.resources]
            for task in domain.tasks:
                texts += [*task.asks, *task.steps_text]
            for text in texts:
                text.format_map(ctx)
        for (name, companion), tasks in BRIDGES.items():
            assert name in by_name and companion in by_name, (name, companion)
            ctx = Context(by_name[companion].draw(rng), **runtime)
            ctx.update(by_name[name].draw(rng))
            for task in tasks:
                for text in (*task.asks, *task.steps_text):
                    text.format_map(ctx)
                for op in task.ops:
                    fill_op(op, ctx)
