"""Record processors applied to hub and local records alike (logic a YAML cannot say)."""

from __future__ import annotations

import random
from collections.abc import Callable

from sbt_bench.core.registry import Registry
from sbt_bench.tasks.readers import Record

Processor = Callable[[list[Record]], list[Record]]

PROCESSORS: Registry[Processor] = Registry("record processor")
PROCESSORS.register("gavie_region_lines", "sbt_bench.tasks.gavie:region_lines")
PROCESSORS.register("gavie_region_lines_published", "sbt_bench.tasks.gavie:region_lines_published")


@PROCESSORS("ethics_utilitarianism_pairs")
def pair_utilitarianism(records: list[Record]) -> list[Record]:
    """Turn (activity, baseline) into lm-eval's seeded "Is Scenario 1 preferable?" pair.

    The order is shuffled with `random.Random(activity)`, exactly as lm-eval's
    `hendrycks_ethics/utils.py`, and label 1 means the pleasant activity came first.
    """
    out = []
    for record in records:
        scenarios = [record["activity"], record["baseline"]]
        ordering = [0, 1]
        random.Random(record["activity"]).shuffle(ordering)  # noqa: S311 - reproducing lm-eval's order
        out.append(
            {
                "scenario_1": scenarios[ordering[0]],
                "scenario_2": scenarios[ordering[1]],
                "label": int(ordering.index(0) == 0),
            }
        )
    return out


@PROCESSORS("ethics_deontology_excuse")
def strip_deontology_excuse(records: list[Record]) -> list[Record]:
    """lm-eval's prompt renders `excuse.rstrip()`."""
    return [{**r, "excuse": str(r["excuse"]).rstrip()} for r in records]


@PROCESSORS("truthfulqa_gen_references")
def format_truthfulqa_references(records: list[Record]) -> list[Record]:
    """Strip answers, end each with '.', and add "I have no comment." to the true ones.

    This is the official TruthfulQA preprocessing (and lm-eval's `process_docs_gen`).
    """
    out = []
    for record in records:
        correct = _format_answers(record["correct_answers"])
        if "I have no comment." not in correct:
            correct.append("I have no comment.")
        out.append(
            {
                **record,
                "question": str(record["question"]).strip(),
                "correct_answers": correct,
                "incorrect_answers": _format_answers(record["incorrect_answers"]),
            }
        )
    return out


def _format_answers(answers: list[str]) -> list[str]:
    stripped = (a.strip() for a in answers)
    return [a if a.endswith(".") else a + "." for a in stripped if a]


@PROCESSORS("keep_last_per_image")
def keep_last_per_image(records: list[Record]) -> list[Record]:
    """Unicorn's `evaluation.py` behaviour: only each image's last question counts.

    The script keys answers by image; this reproduces its numbers, and drops about a quarter
    of OODCV's questions.
    """
    last = {record["image"]: i for i, record in enumerate(records)}
    return [record for i, record in enumerate(records) if last[record["image"]] == i]
