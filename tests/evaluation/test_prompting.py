"""`--apply-chat-template` (and few-shot, system instruction) prompts equal lm-eval 0.4.13's.

The strings in fixtures/lm_eval_prompts.json were built by lm-eval's own code
(benchmarks/lm_eval_prompts.py) with the SmolLM2 tokenizer on the first items of the
shared data; the fixture carries SmolLM2's chat template, so the fast test renders the
same template without loading the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends import BackendOptions
from sbt_bench.backends.chat import ChatRenderer, render_with
from sbt_bench.core.prompt_settings import PromptSettings
from sbt_bench.evaluation.prompting import Prompter
from sbt_bench.evaluation.runner import RunConfig, plan_task
from sbt_bench.tasks import TASKS, build_task
from tests.tiny_models import build_tokenizer

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "lm_eval_prompts.json").read_text()
)
CASES = FIXTURE["cases"]


def smollm2_template_renderer() -> ChatRenderer:
    """SmolLM2's saved chat template on a local tokenizer (the template reads no vocabulary)."""
    tokenizer = build_tokenizer()
    tokenizer.chat_template = FIXTURE["chat_template"]
    return lambda messages: render_with(tokenizer, messages)


def sbt_items(case: dict[str, Any], data_dir: Path, render: ChatRenderer) -> list[dict[str, Any]]:
    """SBT-Bench's contexts and continuations for a fixture case's settings."""
    settings = PromptSettings(
        apply_chat_template=case["apply_chat_template"],
        fewshot_as_multiturn=case["fewshot_as_multiturn"],
        system_instruction=case["system_instruction"],
        num_fewshot=case["num_fewshot"],
    )
    prompter = Prompter(settings, render if case["apply_chat_template"] else None)
    cfg = RunConfig(
        output_dir=Path("unused"),
        options=BackendOptions(),
        limit=len(case["items"]),
        data_dir=data_dir,
    )
    plan = plan_task(build_task(TASKS.get(case["task"])), cfg, prompter=prompter)
    return [
        {
            "context": sample.context,
            "continuations": [r.continuation for r in requests if r.kind == "loglikelihood"],
        }
        for sample, requests in zip(plan.samples, plan.requests, strict=True)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_prompts_equal_lm_eval(case: dict[str, Any], data_dir: Path) -> None:
    """Every context and continuation equals lm-eval's, character for character."""
    assert sbt_items(case, data_dir, smollm2_template_renderer()) == case["items"]


@pytest.mark.slow
def test_smollm2_ships_the_saved_template() -> None:
    """The real SmolLM2 tokenizer's template is the one the fast test renders."""
    from sbt_bench.backends import parse_model_spec
    from sbt_bench.backends.hf_loading import load_processing

    tokenizer = load_processing(parse_model_spec("smollm2"))
    assert tokenizer.chat_template == FIXTURE["chat_template"]
