"""``agentledger model``: the BENCHMARKS.md section it writes, and the rows it adds to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentledger.cli_model import BENCHMARKS_SECTION, write_benchmarks_section


def _result(recall: float) -> dict[str, Any]:
    return {
        "recall": recall,
        "precision": 0.99,
        "benign_sessions_contracted": 0.01,
        "drifting_actions": 120,
        "scoring_us_per_action": 21.5,
        "held_out_styles_recall": 0.9,
        "detection_delay": {
            "drifting_sessions": 40,
            "missed_sessions": 2,
            "actions_mean": 0.1,
            "seconds_mean": 0.2,
        },
        "worst_slice": {"slice": "threat=scope_creep", "recall": 0.6, "n": 12},
        "by": {
            "threat": {"scope_creep": {"recall": 0.6, "n": 12}},
            "domain": {"calendar": {"recall": 0.97, "n": 108}},
            "attack_style": {},
        },
        "seed": 4242,
        "benign_budget": 0.015,
        "session_us_per_action": 60.0,
        "sample_traffic": {
            "seed": 99,
            "scored_sessions": 1200,
            "scored_actions": 5000,
            "benign_sessions": 1100,
            "benign_sessions_contracted": 0.015,
            "within_task_sessions": 1000,
            "within_task_sessions_contracted": 0.004,
            "autonomous_actions": 200,
            "autonomous_recall": 1.0,
            "extra_step_actions": 400,
            "extra_step_actions_flagged": 0.5,
            "stage_us_per_action": 90.0,
            "top_benign_reasons": [["a write (add_note) the intent did not ask for", 12]],
        },
        "split": {
            "train_domains": ["mail"],
            "test_domains": ["calendar"],
            "held_out_styles": [],
            "held_out_phrasings": [],
            "test_sessions": 80,
        },
    }


def test_the_section_is_added_then_grows_by_a_row(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## End to end\n\nfigures\n")
    write_benchmarks_section(path, _result(0.96))
    first = path.read_text()
    assert first.startswith("# Benchmarks\n\n## End to end\n\nfigures\n")
    assert "| 0.96 | 0.99 | 1.00% |" in first
    assert "95.0% (2 of 40 missed)" in first
    assert "contracted): met." in " ".join(first.split())
    assert "seed 4242" in " ".join(first.split()) and "at most 1.5% of benign" in first
    assert "| 99 | 1,200 | 5,000 | 1.50% (of 1,100) | 0.40% (of 1,000) |" in first
    assert "(≤ 2% of benign sessions contracted): met." in " ".join(first.split())
    # A note written by hand under the table, and a section after this one, are kept.
    path.write_text(
        first.replace("Recall by test domain", "A note by hand.\n\nRecall by test domain")
        + "\n## Analyst queries\n\nkept\n"
    )
    second_result = _result(0.5)
    second_result["seed"] = 4343
    write_benchmarks_section(path, second_result)
    second = path.read_text()
    assert second.count(BENCHMARKS_SECTION) == 1
    assert second.count("| date | test sessions |") == 1 and second.count("| date | seed |") == 1
    # Both rows, the older first, in one table; the introduction names the newest seed.
    lines = second.split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("| 20") and "| 80 |" in line]
    assert len(rows) == 2 and rows[1] == rows[0] + 1
    assert "| 0.96 |" in lines[rows[0]] and "| 0.5 |" in lines[rows[1]]
    assert "seed 4343, one no" in " ".join(second.split())
    assert "seed 4242, one no" not in " ".join(second.split())
    assert "contracted): not met." in " ".join(second.split())
    assert second.count("| 99 | 1,200 | 5,000 |") == 2
    assert "A note by hand." in second
    assert "## End to end\n\nfigures\n" in second and "## Analyst queries\n\nkept\n" in second
