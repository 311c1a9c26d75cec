"""From labelled scenarios to a fitted model: each scenario is replayed through a trail
exactly as the worker or the gateway would feed it (intent, listings, calls, results), and
every call gives one row of features and its label."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from models import text
from models.calls import record_call
from models.features import FEATURES, Baseline, read_call
from models.rules import ruled
from models.scenarios.types import Scenario
from models.scorer import DriftScorer, outside_bounds
from models.session import Trail
from models.trail import Call, DeclaredIntent, DriftScore, ToolInfo

SESSION_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SEED = 20261202


@dataclass(frozen=True, slots=True)
class Row:
    """One call of one scenario: its features, whether it left the declared bounds, its
    label, and where it sits (for slicing the evaluation)."""

    scenario_id: str
    domain: str
    threat: str
    attack_style: str
    phrasing: str
    drifting_session: bool
    step: int  # the call's position among the session's calls
    at_ms: int
    values: tuple[float, ...]
    out_of_bounds: bool
    drift: bool


def intent_of(scenario: Scenario) -> DeclaredIntent:
    declared = bool(
        scenario.declared_tools or scenario.declared_resources or scenario.declared_actions
    )
    return DeclaredIntent(
        text=scenario.intent_text,
        tools=tuple(scenario.declared_tools),
        resources=tuple(scenario.declared_resources),
        actions=tuple(scenario.declared_actions),
        scopes=tuple(scenario.scopes),
        declared=declared,
    )


def tool_info(tool: Any) -> ToolInfo:
    return ToolInfo(
        name=tool.name,
        description=tool.description,
        input_schema=dict(tool.input_schema),
        read_only=tool.read_only,
        destructive=tool.destructive,
    )


def _listings(tools: Iterable[Any]) -> dict[str, list[ToolInfo]]:
    by_server: dict[str, list[ToolInfo]] = {}
    for tool in tools:
        by_server.setdefault(tool.server, []).append(tool_info(tool))
    return by_server


def replay(
    scenario: Scenario, visit: Callable[[Trail, Call, int], None], trail: Trail | None = None
) -> None:
    """Feed ``scenario`` into a trail as an enforcement point would; ``visit(trail, call,
    step_index)`` is called for each call before it is added (it must add it)."""
    trail = trail or Trail()
    trail.set_intent(intent_of(scenario))
    trail.set_agent(scenario.agent, scenario.delegated)
    for server, infos in _listings(scenario.tools).items():
        trail.see_tools(server, infos)
    last_call = ""
    for index, step in enumerate(scenario.steps):
        if step.kind == "tools":
            for server, infos in _listings(step.tools).items():
                trail.see_tools(server or step.server, infos)
        elif step.kind == "result":
            trail.see_result(last_call, step.text, step.is_error)
        elif step.kind == "call":
            last_call = f"{scenario.scenario_id}:{index}"
            call = Call(
                action_id=last_call,
                tool=step.tool,
                event_time=SESSION_START + timedelta(milliseconds=step.at_ms),
                arguments=dict(step.arguments),
                server=step.server,
            )
            visit(trail, call, index)


def rows_of(scenario: Scenario, baseline: Baseline | None = None) -> list[Row]:
    rows: list[Row] = []
    steps = scenario.steps
    drifting = scenario.drifting

    def visit(trail: Trail, call: Call, index: int) -> None:
        reading = read_call(trail, call, baseline)
        outside = outside_bounds(trail.intent, call, trail.profile(call.tool).accesses)
        record_call(trail, call, reading)
        step = steps[index]
        rows.append(
            Row(
                scenario_id=scenario.scenario_id,
                domain=scenario.domain,
                threat=step.threat if step.drift else "",
                attack_style=scenario.attack_style,
                phrasing=scenario.phrasing,
                drifting_session=drifting,
                step=len(rows),
                at_ms=step.at_ms,
                values=tuple(reading.values),
                out_of_bounds=bool(outside),
                drift=step.drift,
            )
        )

    replay(scenario, visit)
    return rows


def scenario_baselines(scenarios: Iterable[Scenario]) -> dict[tuple[str, str], Baseline]:
    """What a deployment's history would teach: per domain and agent, the tools, accesses
    and per-session call counts of the benign sessions."""
    from models.baseline import fit_baselines

    history: list[dict[str, str]] = []
    for scenario in scenarios:
        if scenario.drifting:
            continue
        trail = Trail()
        for server, infos in _listings(scenario.tools).items():
            trail.see_tools(server, infos)
        for step in scenario.steps:
            if step.kind == "call":
                kind = trail.profile(step.tool).kind
                history.append(
                    {
                        "session_id": scenario.scenario_id,
                        "agent_name": f"{scenario.domain}\0{scenario.agent}",
                        "operation": step.tool,
                        "access": text.ACCESS_OF_KIND[kind],
                    }
                )
    return {
        (key.split("\0")[0], key.split("\0")[1]): baseline
        for key, baseline in fit_baselines(history).items()
    }


def dataset(
    scenarios: Iterable[Scenario],
    progress: Callable[[int], None] | None = None,
    baselines: Mapping[tuple[str, str], Baseline] | None = None,
) -> list[Row]:
    """The rows of every scenario; with ``baselines``, half of the sessions (chosen by a
    hash of their id) are read against their agent's baseline, the other half as at a
    fresh install, so that the model learns both."""
    rows: list[Row] = []
    for count, scenario in enumerate(scenarios, start=1):
        baseline = None
        if baselines and zlib.crc32(scenario.scenario_id.encode()) % 2 == 0:
            baseline = baselines.get((scenario.domain, scenario.agent))
        rows.extend(rows_of(scenario, baseline))
        if progress is not None and count % 200 == 0:
            progress(count)
    return rows


# Features that count how much a call or a session asks for: more of them is never less
# drift. A negative weight (benign long reads make many calls) would score the fortieth
# page of a spree lower than the tenth; such a feature is left out of the fit instead.
MONOTONE: Final = frozenset(
    {"calls_over", "excess_calls", "volume_excess", "records_over", "baseline_volume"}
)


def fit(rows: Sequence[Row], *, c: float = 1.0) -> Any:
    """A logistic regression on the rows the hard bound does not already decide, refitted
    without any ``MONOTONE`` feature that came out with a negative weight (its weight is
    then 0)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    learnt = [r for r in rows if not r.out_of_bounds]
    x = np.array([r.values for r in learnt], dtype=np.float64)
    y = np.array([r.drift for r in learnt], dtype=np.int64)
    monotone = [i for i, name in enumerate(FEATURES) if name in MONOTONE]
    while True:
        classifier = LogisticRegression(
            C=c, max_iter=2000, class_weight="balanced", random_state=SEED
        )
        classifier.fit(x, y)
        negative = [i for i in monotone if classifier.coef_[0][i] < 0]
        if not negative:
            return classifier
        x[:, negative] = 0.0


def scorer_of(classifier: Any, version: str, threshold: float) -> DriftScorer:
    return DriftScorer(
        version=version,
        coefficients=tuple(float(v) for v in classifier.coef_[0]),
        intercept=float(classifier.intercept_[0]),
        threshold=threshold,
        features=FEATURES,
    )


def scores_of(scorer: DriftScorer, rows: Sequence[Row]) -> list[float]:
    """The model's score of each row, as ``DriftScorer.score`` gives it (1.0 out of bounds)."""
    import math

    scored: list[float] = []
    for row in rows:
        if row.out_of_bounds:
            scored.append(1.0)
            continue
        z = scorer.intercept + sum(
            w * v for w, v in zip(scorer.coefficients, row.values, strict=True)
        )
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
        if ruled(row.values):
            score = max(score, scorer.threshold)
        scored.append(score)
    return scored


def score_scenario(scorer: DriftScorer, scenario: Scenario) -> Iterator[tuple[int, DriftScore]]:
    """Each call's score through the scorer's own door (for the demo and for tests)."""
    found: list[tuple[int, DriftScore]] = []
    replay(scenario, lambda trail, call, index: found.append((index, scorer.score(trail, call))))
    return iter(found)
