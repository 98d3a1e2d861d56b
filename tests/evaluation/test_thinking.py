"""`--think on|off`: the chat template's enable_thinking, thinking cut before scoring, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sbt_bench.backends.chat import render_with
from sbt_bench.core.types import Response
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.generation import strip_thinking
from tests.cli_runner import results_of, run_cli
from tests.tiny_models import build_tokenizer

# A template with Qwen3's switch: thinking off puts an empty thinking block in the prompt.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def with_template(model_dir: Path, target: Path, template: str) -> Path:
    """A copy of the tiny model whose tokenizer carries `template`."""
    shutil.copytree(model_dir, target)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = template
    config_path.write_text(json.dumps(config))
    return target


def test_render_passes_the_switch_only_when_given() -> None:
    """think=False renders the template's empty block; None leaves the template's default."""
    tokenizer = build_tokenizer()
    tokenizer.chat_template = THINKING_TEMPLATE
    messages = [{"role": "user", "content": "Q?"}]
    assert render_with(tokenizer, messages, think=False).endswith("<think>\n\n</think>\n\n")
    assert "<think>" not in render_with(tokenizer, messages)
    assert "<think>" not in render_with(tokenizer, messages, think=True)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>let me see</think>Paris.", "Paris."),
        ("still thinking</think> Paris", " Paris"),  # the prompt opened the block
        ("Paris <think>unfinished", "Paris "),  # cut by the token budget
        ("Paris", "Paris"),
    ],
)
def test_thinking_blocks_are_cut_before_scoring(text: str, answer: str) -> None:
    """Every placement of a thinking block leaves only the answer."""
    assert strip_thinking(text) == answer


def test_scored_answer_drops_the_block_and_the_sample_keeps_it() -> None:
    """TruthfulQA gen scores the answer after </think>; `generation` keeps the whole reply."""
    task = build_task(TASKS.get("truthfulqa_gen"))
    sample = task.build_samples(
        0,
        {"question": "Q?", "best_answer": "No.", "correct_answers": ["No."],
         "incorrect_answers": ["Yes."]},
        None,
    )[0]  # fmt: skip
    reply = "<think>Yes. Yes. Yes.</think> No."
    item = task.score(sample, [Response(text=reply)])
    assert item.generation == reply
    assert item.prediction == "No."
    assert item.scores == task.score(sample, [Response(text=" No.")]).scores


def test_think_off_reaches_the_prompt_and_is_recorded(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """--think off puts the template's empty block in the prompt; results record `think`."""
    model = with_template(tiny_model_dir, tmp_path / "thinking", THINKING_TEMPLATE)
    out = tmp_path / "out"
    args = ["run", "--tasks", "truthfulqa_gen", "--models", f"hf:{model}", "--limit", "1"]
    flags = ["--apply-chat-template", "--think", "off", "--gen-kwargs", "max_new_tokens=4"]
    assert run_cli(*args, "--data-dir", str(data_dir), "--output-dir", str(out), *flags) == 0
    entry = results_of(out)["tasks"]["truthfulqa_gen"]
    assert entry["prompt"]["think"] is False
    (samples,) = out.glob("*/samples_truthfulqa_gen.jsonl")
    assert json.loads(samples.read_text().splitlines()[0])["context"].endswith("</think>\n\n")


@pytest.mark.parametrize(
    ("tasks", "template", "flags", "needle"),
    [
        ("truthfulqa_gen", PLAIN_TEMPLATE, ["--apply-chat-template"], "no thinking switch"),
        ("truthfulqa_mc1", THINKING_TEMPLATE, ["--apply-chat-template"], "--think off"),
        ("truthfulqa_gen", THINKING_TEMPLATE, [], "--apply-chat-template"),
    ],
)
def test_think_on_that_cannot_apply_is_one_line_exit_2(  # noqa: PLR0917 - parametrized
    tasks: str,
    template: str,
    flags: list[str],
    needle: str,
    tiny_model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A template without the switch, a log-likelihood task, or no chat template: one line."""
    model = with_template(tiny_model_dir, tmp_path / "m", template)
    args = ["run", "--tasks", tasks, "--models", f"hf:{model}", "--limit", "1", "--think", "on"]
    out = ["--data-dir", str(data_dir), "--output-dir", str(tmp_path / "out")]
    assert run_cli(*args, *out, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert needle in err[0]


def test_model_yaml_key_sets_the_switch(tmp_path: Path) -> None:
    """`think: off` in a model YAML (with apply_chat_template) is the model's setting."""
    from sbt_bench.backends import parse_model_spec

    path = tmp_path / "qwen.yaml"
    (tmp_path / "config.json").write_text("{}")
    path.write_text(f"model: hf:{tmp_path}\napply_chat_template: true\nthink: off\n")
    assert parse_model_spec(str(path)).prompt.think is False
