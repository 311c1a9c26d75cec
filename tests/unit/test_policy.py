"""The drift policy: scores to decisions, rules by agent and intent, and a bad file's error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.contraction import ALLOW, HALT, NARROW, REVOKE
from kernel.policy import Policy, PolicyError, SessionFacts

FACTS = SessionFacts(
    agent="billing-agent",
    intent="Pay the March invoice from Initech",
    declared=True,
    scopes=("payments.read", "payments.write"),
    tools=("list_invoices", "pay_invoice"),
)


def _decide(policy: Policy, score: float, flagged: bool = False, **kw: object) -> str:
    facts = kw.pop("facts", FACTS)
    assert isinstance(facts, SessionFacts)
    return policy.decide(
        facts,
        score=score,
        flagged=flagged,
        out_of_bounds=bool(kw.get("out_of_bounds", False)),
        tool="pay_invoice",
        access="write",
    ).decision


def test_the_built_in_policy_narrows_what_the_model_flags_and_halts_the_worst() -> None:
    policy = Policy()
    assert _decide(policy, 0.3) == ALLOW
    assert _decide(policy, 0.6, flagged=True) == NARROW
    assert _decide(policy, 0.95, flagged=True) == HALT
    assert _decide(policy, 0.2, out_of_bounds=True) == HALT  # the hard bound, whatever the score
    verdict = policy.decide(
        FACTS, score=0.6, flagged=True, out_of_bounds=False, tool="pay_invoice", access="write"
    )
    assert verdict.removed_tools == ("pay_invoice",)
    assert verdict.remaining_tools == ("list_invoices",)
    assert (verdict.removed_scopes, verdict.remaining_scopes) == (
        ("payments.write",),
        ("payments.read",),
    )


def test_a_read_that_drifts_keeps_the_session_s_scopes() -> None:
    verdict = Policy().decide(
        FACTS, score=0.6, flagged=True, out_of_bounds=False, tool="list_invoices", access="read"
    )
    assert verdict.removed_scopes == () and verdict.remaining_scopes == FACTS.scopes


def test_the_third_narrowing_of_a_session_halts_it() -> None:
    policy = Policy()
    narrowed_twice = SessionFacts(
        FACTS.agent, FACTS.intent, FACTS.declared, FACTS.scopes, FACTS.tools, narrowings=2
    )
    assert _decide(policy, 0.6, flagged=True, facts=narrowed_twice) == HALT


def test_the_first_matching_rule_decides_and_unset_values_come_from_the_defaults(
    tmp_path: Path,
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        """
version: 1
defaults:
  halt: 0.8
rules:
  - name: payments
    match: {agent: "billing-*", intent: "(?i)invoice"}
    narrow: 0.4
    revoke: 0.9
  - name: everyone-billing
    match: {agent: "billing-*"}
    narrow: never
"""
    )
    policy = Policy.load(path)
    assert _decide(policy, 0.45) == NARROW  # below the model's flag, above the rule's 0.4
    assert _decide(policy, 0.85) == HALT  # the defaults' halt
    assert _decide(policy, 0.93) == REVOKE
    other = SessionFacts("billing-agent", "Export last year's ledger", False)
    assert _decide(policy, 0.7, flagged=True, facts=other) == ALLOW  # narrow: never
    assert policy.thresholds(other)[0] == "everyone-billing"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("defaults: {narrow: 1.5}", "defaults.narrow"),
        ("rules: [{name: x, match: {intent: '('}}]", "rules.0.match.intent"),
        ("rules: [{name: x, halt_after: 2}]", "rules.0.halt_after"),
        ("defaults: {out_of_bounds: allow}", "defaults.out_of_bounds"),
        ("version: 2", "version"),
        ("rules: [{name: a}, {name: a}]", "rules"),
    ],
)
def test_a_mistake_in_the_policy_file_names_its_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        Policy.load(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value)


def test_a_policy_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="not YAML"):
        Policy.load(path)


def test_the_hot_path_s_shortcut_allows_exactly_what_decide_allows(tmp_path: Path) -> None:
    """The stream asks ``verdicts.decision`` of each action under its session's rule and
    builds facts and a verdict only for what it does not allow: the two must agree on every
    score, flag and bound, with integer thresholds too."""
    from kernel.verdicts import decision

    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        "defaults: {narrow: 0.5, halt: flagged, revoke: 1, out_of_bounds: narrow}\n"
        "rules:\n"
        "  - {name: strict, match: {declared: true}, narrow: 0, halt: 0.7, revoke: never}\n"
        "  - {name: lax, match: {agent: 'billing-*'}, narrow: never, halt: never}\n"
    )
    policies = [Policy(), Policy.load(path)]
    sessions = [FACTS, SessionFacts(agent="billing-agent", intent="x", declared=False)]
    sessions.append(SessionFacts(agent="ops", intent="x", declared=False, narrowings=2))
    grid = [0.0, 0.2, 0.5, 0.69, 0.7, 0.9, 1.0]
    seen = set()
    for policy in policies:
        for facts in sessions:
            rule, limits = policy.limits(facts.agent, facts.intent, facts.declared)
            assert rule == policy.thresholds(facts)[0]
            for score in grid:
                for flagged in (False, True):
                    for bounds in (False, True):
                        decided = _decide(policy, score, flagged, facts=facts, out_of_bounds=bounds)
                        shortcut = decision(limits, score, flagged, bounds)
                        assert (shortcut == ALLOW) == (decided == ALLOW), (rule, score)
                        seen.add(decided)
    assert seen == {ALLOW, NARROW, HALT, REVOKE}  # the grid reaches every decision
