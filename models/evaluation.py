"""Judging the drift model on what it never saw: whole domains (and, where the generator
labels them, attack styles and phrasings) are held out of training; the figures are taken
on the held-out domains only, sliced by threat, domain and attack style, and the worst
slice is reported beside the averages."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from models.rules import ruled
from models.scenarios.types import Scenario
from models.scorer import DriftScorer, microseconds_per_action, session_microseconds_per_action
from models.training import Row, dataset, fit, scenario_baselines, scorer_of, scores_of

# The share of benign sessions the threshold may contract, on the validation domains.
BENIGN_BUDGET = 0.015
# The threshold sits where the held-out training domains' benign sessions allow; a domain
# never seen scores its benign work higher (its verbs and nouns are new to the features), so
# the threshold is raised by this much log-odds above that edge. Chosen on the training
# domains' folds (``model evaluate --dev``, budget 1.5%): the folds contract 1.5% of their
# benign sessions at 0.25, 1.1% at 0.5, 1.0% at 0.75 (recall 0.924, 0.918, 0.914); 0.5
# leaves room for a new domain whose intents the features misread (the test domains
# contracted 0.6 points more than the folds did when both were last measured).
THRESHOLD_MARGIN = 0.5
# Slices with fewer drifting actions than this are listed but not called the worst.
MIN_SLICE = 10


@dataclass(frozen=True, slots=True)
class Split:
    train_domains: tuple[str, ...]
    test_domains: tuple[str, ...]
    held_out_styles: tuple[str, ...] = ()
    held_out_phrasings: tuple[str, ...] = ()


def split_domains(
    domains: Iterable[str],
    scenarios: Sequence[Scenario] = (),
    test_share: float = 0.35,
    test_domains: Sequence[str] | None = None,
) -> Split:
    """``test_domains`` (those of ``domains``) for testing, or else every third domain or
    so (deterministic: sorted names); every third attack style and phrasing the scenarios
    carry kept out of training too."""
    names = sorted(set(domains))
    if test_domains is not None:
        test = tuple(d for d in names if d in test_domains)
    else:
        step = max(2, round(1 / test_share))
        test = tuple(d for i, d in enumerate(names) if i % step == 1)
    styles = sorted({s.attack_style for s in scenarios if s.attack_style})
    phrasings = sorted({s.phrasing for s in scenarios if s.phrasing})
    return Split(
        train_domains=tuple(d for d in names if d not in test),
        test_domains=test,
        held_out_styles=tuple(s for i, s in enumerate(styles) if i % 3 == 2),
        held_out_phrasings=tuple(p for i, p in enumerate(phrasings) if i % 3 == 2),
    )


def _trainable(scenario: Scenario, split: Split) -> bool:
    return (
        scenario.domain in split.train_domains
        and scenario.attack_style not in split.held_out_styles
        and scenario.phrasing not in split.held_out_phrasings
    )


def benign_contracted(rows: Sequence[Row], scores: Sequence[float], threshold: float) -> float:
    flagged: dict[str, bool] = {}
    for row, score in zip(rows, scores, strict=True):
        if not row.drifting_session:
            flagged[row.scenario_id] = flagged.get(row.scenario_id, False) or score >= threshold
    return sum(flagged.values()) / len(flagged) if flagged else 0.0


def choose_threshold(rows: Sequence[Row], scores: Sequence[float], budget: float) -> float:
    """The lowest threshold that contracts at most ``budget`` of the benign sessions: a
    session is contracted by its highest-scoring action, so sort those."""
    session_max: dict[str, float] = {}
    for row, score in zip(rows, scores, strict=True):
        if not row.drifting_session and not row.out_of_bounds and not ruled(row.values):
            session_max[row.scenario_id] = max(session_max.get(row.scenario_id, 0.0), score)
    if not session_max:
        return 0.5
    highest = sorted(session_max.values(), reverse=True)
    allowed = int(budget * len(highest))  # sessions we may contract
    return min(0.99, highest[allowed] + 1e-6) if allowed < len(highest) else 0.5


def with_margin(threshold: float, margin: float = THRESHOLD_MARGIN) -> float:
    """``threshold`` raised by ``margin`` in log-odds."""
    clipped = min(1.0 - 1e-6, max(1e-6, threshold))
    return 1.0 / (1.0 + math.exp(-(math.log(clipped / (1.0 - clipped)) + margin)))


def train(
    rows: Sequence[Row], *, version: str = "drift-eval", budget: float = BENIGN_BUDGET
) -> tuple[Any, DriftScorer]:
    """Fit on ``rows``, choosing the threshold on domains held out of the fit (each
    domain in turn in a few folds), then refit on all of them with that threshold."""
    domains = sorted({r.domain for r in rows})
    folds = min(4, len(domains))
    held_rows: list[Row] = []
    held_scores: list[float] = []
    if folds >= 2:
        for k in range(folds):
            held = {d for i, d in enumerate(domains) if i % folds == k}
            inner = [r for r in rows if r.domain not in held]
            outer = [r for r in rows if r.domain in held]
            if not any(r.drift for r in inner) or not outer:
                continue
            scorer = scorer_of(fit(inner), version, 0.5)
            held_rows.extend(outer)
            held_scores.extend(scores_of(scorer, outer))
    # One threshold over every fold's held-out sessions together: each was scored by a
    # model that never saw its domain, as the test domains will be.
    threshold = choose_threshold(held_rows, held_scores, budget) if held_rows else 0.5
    threshold = with_margin(threshold)
    classifier = fit(rows)
    return classifier, scorer_of(classifier, version, threshold)


def _recall(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def figures(rows: Sequence[Row], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    """Precision, recall, benign sessions contracted, detection delay and slices."""
    flagged = [s >= threshold for s in scores]
    drift_total = sum(r.drift for r in rows)
    true_flags = sum(f and r.drift for r, f in zip(rows, flagged, strict=True))
    all_flags = sum(flagged)
    slices: dict[str, dict[str, list[int]]] = {
        "threat": defaultdict(lambda: [0, 0]),
        "domain": defaultdict(lambda: [0, 0]),
        "attack_style": defaultdict(lambda: [0, 0]),
    }
    for row, flag in zip(rows, flagged, strict=True):
        if row.drift:
            for name, key in (
                ("threat", row.threat),
                ("domain", row.domain),
                ("attack_style", row.attack_style),
            ):
                slices[name][key or "-"][0] += int(flag)
                slices[name][key or "-"][1] += 1
    sliced = {
        name: {k: {"recall": _recall(h, n), "n": n} for k, (h, n) in sorted(v.items())}
        for name, v in slices.items()
    }
    for domain, (contracted, benign) in _benign_by_domain(rows, flagged).items():
        sliced["domain"].setdefault(domain, {"recall": None, "n": 0})
        sliced["domain"][domain]["benign_sessions"] = benign
        sliced["domain"][domain]["benign_sessions_contracted"] = round(contracted / benign, 4)
    worst = min(
        (
            (h / n, f"{name}={k}", n)
            for name, v in slices.items()
            for k, (h, n) in v.items()
            if n >= MIN_SLICE
        ),
        default=(1.0, "-", 0),
    )
    return {
        "threshold": round(threshold, 4),
        "actions": len(rows),
        "drifting_actions": drift_total,
        "sessions": len({r.scenario_id for r in rows}),
        "benign_sessions": len({r.scenario_id for r in rows if not r.drifting_session}),
        "precision": round(true_flags / all_flags, 4) if all_flags else None,
        "recall": _recall(true_flags, drift_total),
        "benign_sessions_contracted": round(benign_contracted(rows, scores, threshold), 4),
        "out_of_bounds_actions": sum(r.out_of_bounds for r in rows),
        "detection_delay": _delays(rows, flagged),
        "by": sliced,
        "worst_slice": {"slice": worst[1], "recall": round(worst[0], 4), "n": worst[2]},
    }


def _benign_by_domain(rows: Sequence[Row], flagged: Sequence[bool]) -> dict[str, tuple[int, int]]:
    """Per domain: how many of its benign sessions had a flagged action, of how many."""
    sessions: dict[tuple[str, str], bool] = {}
    for row, flag in zip(rows, flagged, strict=True):
        if not row.drifting_session:
            key = (row.domain, row.scenario_id)
            sessions[key] = sessions.get(key, False) or flag
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (domain, _), hit in sessions.items():
        counts[domain][0] += int(hit)
        counts[domain][1] += 1
    return {d: (h, n) for d, (h, n) in sorted(counts.items())}


def _delays(rows: Sequence[Row], flagged: Sequence[bool]) -> dict[str, Any]:
    """Per drifting session: how many drifting actions ran before the first flag, and the
    seconds from the first drifting action to the first flag at or after it."""
    sessions: dict[str, list[tuple[Row, bool]]] = defaultdict(list)
    for row, flag in zip(rows, flagged, strict=True):
        if row.drifting_session:
            sessions[row.scenario_id].append((row, flag))
    actions: list[int] = []
    seconds: list[float] = []
    missed = 0
    for calls in sessions.values():
        first = next((i for i, (r, _) in enumerate(calls) if r.drift), None)
        if first is None:
            continue
        caught = next((i for i in range(first, len(calls)) if calls[i][1]), None)
        if caught is None:
            missed += 1
            continue
        actions.append(sum(1 for r, _ in calls[first:caught] if r.drift))
        seconds.append((calls[caught][0].at_ms - calls[first][0].at_ms) / 1000)

    def mean(values: list[int] | list[float]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None

    def p95(values: list[int] | list[float]) -> float | None:
        return round(float(sorted(values)[int(0.95 * (len(values) - 1))]), 3) if values else None

    return {
        "drifting_sessions": len(sessions),
        "missed_sessions": missed,
        "actions_mean": mean(actions),
        "actions_p95": p95(actions),
        "seconds_mean": mean(seconds),
        "seconds_p95": p95(seconds),
    }


def evaluate(
    train_pool: Iterable[Scenario],
    test_pool: Iterable[Scenario],
    split: Split | None = None,
    progress: Callable[[str], None] | None = None,
    budget: float = BENIGN_BUDGET,
) -> tuple[dict[str, Any], DriftScorer]:
    """Leave-domains-out: train on the training domains of ``train_pool`` (without the
    held-out styles and phrasings), report on the test domains of ``test_pool`` (drawn
    with a seed of their own, so that nothing tuned on earlier draws is measured)."""
    pool = list(train_pool)
    split = split or split_domains({s.domain for s in pool}, pool)
    train_set = [s for s in pool if _trainable(s, split)]
    test_set = [s for s in test_pool if s.domain in split.test_domains]
    say = progress or (lambda _: None)
    say(f"features of {len(train_set)} training sessions")
    train_rows = dataset(train_set, baselines=scenario_baselines(train_set))
    say(f"fitting on {len(train_rows)} actions")
    _, scorer = train(train_rows, budget=budget)
    say(f"scoring {len(test_set)} test sessions")
    test_rows = dataset(test_set)  # a fresh install: no baseline of these domains yet
    result = figures(test_rows, scores_of(scorer, test_rows), scorer.threshold)
    held_style_rows = [r for r in test_rows if r.attack_style in split.held_out_styles]
    if held_style_rows:
        held = figures(held_style_rows, scores_of(scorer, held_style_rows), scorer.threshold)
        result["held_out_styles_recall"] = held["recall"]
    say("timing the scorer")
    result["scoring_us_per_action"] = round(microseconds_per_action(scorer), 2)
    result["session_us_per_action"] = round(session_microseconds_per_action(scorer), 2)
    result["benign_budget"] = budget
    result["split"] = {
        "train_domains": list(split.train_domains),
        "test_domains": list(split.test_domains),
        "held_out_styles": list(split.held_out_styles),
        "held_out_phrasings": list(split.held_out_phrasings),
        "train_sessions": len(train_set),
        "test_sessions": len(test_set),
    }
    return result, scorer


def develop(
    scenarios: Iterable[Scenario],
    split: Split | None = None,
    progress: Callable[[str], None] | None = None,
    folds: int = 4,
    budget: float = BENIGN_BUDGET,
) -> tuple[dict[str, Any], DriftScorer]:
    """The figures to iterate on, without looking at the test domains: the training
    domains in ``folds`` folds, each held out in turn from a model fitted (threshold
    included) on the others; the held-out figures are pooled. Returns them and the scorer
    fitted on the first fold's training domains (for replaying other traffic)."""
    pool = [s for s in scenarios if split is None or s.domain in split.train_domains]
    split = split or split_domains({s.domain for s in pool}, pool)
    fit_set = [s for s in pool if _trainable(s, split)]
    say = progress or (lambda _: None)
    say(f"features of {len(pool)} sessions")
    fit_rows = dataset(fit_set, baselines=scenario_baselines(fit_set))
    plain_rows = dataset(pool)  # as at a fresh install: no baseline of a new domain
    domains = sorted({s.domain for s in pool})
    held_rows: list[Row] = []
    shifted: list[float] = []  # scores moved so that each fold's threshold sits at 0.5
    first: DriftScorer | None = None
    for k in range(folds):
        held = {d for i, d in enumerate(domains) if i % folds == k}
        _, scorer = train([r for r in fit_rows if r.domain not in held], budget=budget)
        first = first or scorer
        outer = [r for r in plain_rows if r.domain in held]
        held_rows.extend(outer)
        shifted.extend(
            min(1.0, max(0.0, s - scorer.threshold + 0.5)) for s in scores_of(scorer, outer)
        )
    result = figures(held_rows, shifted, 0.5)
    result["split"] = {"train_domains": domains, "folds": folds}
    assert first is not None
    return result, first
