"""The drift model judged on traffic it was never built from: the project's sample agent
sessions (``agentledger.sampledata``: Okta grants, MCP calls whose intent the client asserted
or declared, CloudTrail calls made with the agent's STS keys), stitched and scored exactly
as the worker does (``processors.stitch.Stitcher``, then ``processors.scoring.DriftStage``).

The sample generator was written before the drift model and knows nothing of it. Almost all
of its work stays within each session's intent; the steps an agent adds beyond what its
client declared are labelled ``agent_autonomous`` by attribution. A session with no such
action is benign: the share of benign sessions that got a contraction is the figure that
matters here (the model's false alarms on realistic traffic).
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from agentledger.sampledata import generate_sessions
from agentledger.sampledata.catalog import AGENT_KINDS
from ingest.framing import Framed, frame_lines
from ingest.registry import get_source
from kernel.codec import Envelope
from kernel.declaration import SessionDeclaration, parse_declaration
from kernel.events import now_utc
from kernel.vocabulary import AGENT_AUTONOMOUS
from models.trail import Scorer
from processors.scoring import DriftStage
from processors.stitch import Stitcher

BATCH = 2000  # events per stitched batch, as the worker's consumer hands them over
TOP_REASONS = 8
# Development looks at one seed's traffic; the figures in BENCHMARKS.md come from another,
# changed whenever the model was developed while looking at a draw.
DEV_SEED = 7
TEST_SEED = 20261208


def _ensure_fingerprint_key() -> None:
    """Parsing fingerprints bearer tokens with the deployment's key; an offline replay
    that has none uses a throwaway one for this process (it links tokens, nothing else)."""
    from kernel.errors import ConfigError
    from kernel.tokens import fingerprint_digest, use_fingerprint_key

    try:
        fingerprint_digest(b"\0" * 32)
    except ConfigError:
        use_fingerprint_key(os.urandom(32))


def _envelopes(sessions: list[Any]) -> list[Envelope]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for session in sessions:
        for sample in session.records:
            by_source[sample.source].append(orjson.dumps(sample.record).decode())
    received = now_utc()
    envelopes: list[Envelope] = []
    for name, lines in by_source.items():
        source = get_source(name)
        for item in frame_lines(source, lines, f"{name}.jsonl"):
            if isinstance(item, Framed):
                for event in source.parse(item.record, position=item.position, raw=item.raw):
                    envelopes.append(Envelope(event, received, "sample"))
    envelopes.sort(key=lambda e: e.event.event_time)
    return envelopes


def _batches(
    envelopes: list[Envelope], declarations: list[SessionDeclaration]
) -> Iterator[tuple[list[SessionDeclaration], list[Envelope]]]:
    """Batches of events in time order, each with the declarations made before its end (a
    client declares its session before the token is used)."""
    pending = sorted(declarations, key=lambda d: d.declared_at)
    at = 0
    for start in range(0, len(envelopes), BATCH):
        batch = envelopes[start : start + BATCH]
        end: datetime = batch[-1].event.event_time
        due = []
        while at < len(pending) and pending[at].declared_at <= end:
            due.append(pending[at])
            at += 1
        yield due, batch


def replay_sample_traffic(
    scorer: Scorer, *, sessions: int = 2000, seed: int = DEV_SEED, run_id: str = "drift-eval"
) -> dict[str, Any]:
    """Stitch and score ``sessions`` sample sessions; the share of benign sessions
    contracted, and how the autonomous actions scored."""
    _ensure_fingerprint_key()
    generated = generate_sessions(sessions, seed=seed, run_id=run_id)
    declarations = [
        parse_declaration(s.declaration) for s in generated if s.declaration is not None
    ]
    stitcher = Stitcher()
    stage = DriftStage(scorer)
    drift_rows: list[dict[str, Any]] = []
    labels: dict[str, tuple[int, str]] = {}  # action -> (version, label), the latest wins
    for due, batch in _batches(_envelopes(generated), declarations):
        for declaration in due:
            for row in stitcher.declare(declaration).attributions:
                _keep_label(labels, row)
        out = stitcher.process(batch)
        for row in out.attributions:
            _keep_label(labels, row)
        scored, _ = stage.score(stitcher.state, out, 1)
        drift_rows.extend(scored.drift)
    state = stitcher.state
    contracted: dict[str, bool] = {}
    autonomous_sessions: set[str] = set()
    autonomous = caught = 0
    reasons: Counter[str] = Counter()
    for row in drift_rows:
        root = state.resolve(row["session_id"])
        contracted[root] = contracted.get(root, False) or row["decision"] != "allow"
        label = labels.get(row["action_id"], (0, ""))[1]
        if label == AGENT_AUTONOMOUS:
            autonomous_sessions.add(root)
            autonomous += 1
            caught += bool(row["flagged"])
        elif row["flagged"]:
            reasons[row["reasons"][0] if row["reasons"] else "-"] += 1
    benign = [sid for sid in contracted if sid not in autonomous_sessions]
    benign_contracted = sum(contracted[sid] for sid in benign)
    # Steps beyond the task's core are what a declaration would have bounded; in sessions
    # whose intent the client only asserted, attribution cannot tell them, so count them.
    extra_sessions: set[str] = set()
    extra = extra_flagged = 0
    for row in drift_rows:
        root = state.resolve(row["session_id"])
        session = state.sessions.get(root)
        core = _core_tools(session.intent if session is not None else "")
        if core and row["tool"] in _AGENT_TOOLS and row["tool"] not in core:
            extra_sessions.add(root)
            extra += 1
            extra_flagged += bool(row["flagged"])
    within = [sid for sid in benign if sid not in extra_sessions]
    stats = stage.stats.as_dict()
    flagged_benign = sum(
        1
        for row in drift_rows
        if row["flagged"] and labels.get(row["action_id"], (0, ""))[1] != AGENT_AUTONOMOUS
    )
    return {
        "seed": seed,
        "run_id": run_id,
        "generated_sessions": sessions,
        "declared_sessions": len(declarations),
        "scored_actions": len(drift_rows),
        "scored_sessions": len(contracted),
        "benign_sessions": len(benign),
        "benign_sessions_contracted": round(benign_contracted / max(1, len(benign)), 4),
        "benign_actions_flagged": round(flagged_benign / max(1, len(drift_rows) - autonomous), 4),
        "within_task_sessions": len(within),
        "within_task_sessions_contracted": round(
            sum(contracted[sid] for sid in within) / max(1, len(within)), 4
        ),
        "extra_step_actions": extra,
        "extra_step_actions_flagged": round(extra_flagged / extra, 4) if extra else None,
        "autonomous_actions": autonomous,
        "autonomous_sessions": len(autonomous_sessions),
        "autonomous_recall": round(caught / autonomous, 4) if autonomous else None,
        "top_benign_reasons": reasons.most_common(TOP_REASONS),
        "model_us_per_action": stats["model_us_per_action"],
        "stage_us_per_action": stats["stage_us_per_action"],
    }


_AGENT_TOOLS = frozenset(tool.name for kind in AGENT_KINDS for tool in kind.tools)
_TASKS = tuple(
    (re.compile(re.sub(r"\\\{\w+\\\}", ".+?", re.escape(task.text)) + "$"),
     frozenset(name for name, _ in task.core))
    for kind in AGENT_KINDS
    for task in kind.tasks
)  # fmt: skip


@lru_cache(maxsize=4096)
def _core_tools(intent: str) -> frozenset[str]:
    """The core tools of the sample task whose text ``intent`` is (empty if none)."""
    for pattern, core in _TASKS:
        if pattern.match(intent):
            return core
    return frozenset()


def _keep_label(labels: dict[str, tuple[int, str]], row: dict[str, Any]) -> None:
    version = int(row["version"])
    known = labels.get(row["action_id"])
    if known is None or version >= known[0]:
        labels[row["action_id"]] = (version, str(row["label"]))
