"""The parts of an EEE result entry: GAVIE's judge, ranges and units, the absent error bar."""

from __future__ import annotations

import importlib.util

from sbt_bench.analysis.eee_fields import metric_config, score_details
from tests.needs import need


def test_gavie_metrics_carry_their_judge_and_0_to_10_range() -> None:
    """A judged task's metric names its judge and prompt in llm_scoring; the schema accepts it."""
    entry = {"judge": {"model": "openai:gpt-4o-2024-08-06", "n_judged": 3}}
    config = metric_config("gavie", "accuracy", entry)
    judge = config["llm_scoring"]["judges"][0]["model_info"]
    assert judge["id"] == "openai:gpt-4o-2024-08-06"
    assert "accurate" in config["llm_scoring"]["input_prompt"]
    assert (config["min_score"], config["max_score"]) == (0.0, 10.0)
    need(importlib.util.find_spec("every_eval_ever") is not None, "the every-eval-ever package")
    from every_eval_ever.eval_types import MetricConfig

    MetricConfig.model_validate(config)


def test_a_count_has_no_error_bar_and_says_why() -> None:
    """`unparseable` is lower-is-better, unbounded above, and its note rides along."""
    entry = {"stderr": {"unparseable": None}, "notes": {"stderr:unparseable": "a count"}}
    assert metric_config("pope_random", "unparseable", entry)["lower_is_better"] is True
    details = score_details("unparseable", 0.0, entry)
    assert "standard_error" not in details["uncertainty"]
    assert details["details"]["no_error_bar"] == "a count"
