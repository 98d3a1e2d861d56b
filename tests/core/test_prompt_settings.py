"""Prompt settings as lm-eval users give them: flags, model-YAML keys, records and refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sbt_bench.analysis.leaderboard import build_table, load_leaderboard_spec
from sbt_bench.backends import BackendOptions
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import GenKwargs, PromptSettings, parse_gen_kwargs
from sbt_bench.evaluation.prompting import Prompter, task_hash
from sbt_bench.evaluation.runner import RunConfig, TaskPlan, plan_task
from sbt_bench.results.schema import RunResults
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.fewshot import draw_shots
from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_tasks"


def plan(task: str, data_dir: Path, settings: PromptSettings, limit: int = 3) -> TaskPlan:
    cfg = RunConfig(
        output_dir=Path("unused"), options=BackendOptions(), limit=limit, data_dir=data_dir
    )
    return plan_task(build_task(TASKS.get(task)), cfg, prompter=Prompter(settings))


class TestGenKwargs:
    def test_parses_lm_eval_style_pairs(self) -> None:
        """`k=v,...` becomes typed overrides; only the given keys are set."""
        gen = parse_gen_kwargs("temperature=0.7,top_p=0.9,max_new_tokens=32,do_sample=true")
        assert gen == GenKwargs(temperature=0.7, top_p=0.9, max_new_tokens=32, do_sample=True)

    def test_overrides_generation_requests_and_their_cache_key(self, data_dir: Path) -> None:
        """Gen kwargs reach the request, so its cache key (and the task hash) change."""
        default = plan("truthfulqa_gen", data_dir, PromptSettings(), limit=1)
        settings = PromptSettings(gen_kwargs=parse_gen_kwargs("max_new_tokens=8,do_sample=true"))
        sampled = plan("truthfulqa_gen", data_dir, settings, limit=1)
        (before,), (after,) = default.requests[0], sampled.requests[0]
        assert (after.generation.max_new_tokens, after.generation.do_sample) == (8, True)
        assert after.generation.stop == before.generation.stop
        assert after.key() != before.key()
        spec = TASKS.get("truthfulqa_gen")
        assert task_hash(spec, sampled.prompt) != task_hash(spec, default.prompt)
        assert task_hash(spec, default.prompt) == spec.spec_hash()

    def test_unknown_key_is_one_line(self) -> None:
        """An unknown --gen-kwargs key stops the run with the allowed keys, exit 2."""
        proc = sbt(
            "run",
            "--tasks",
            "truthfulqa_gen",
            "--models",
            "hf:/nowhere/x",
            "--gen-kwargs",
            "temprature=0.5",
        )
        assert_one_line_error(proc, "--gen-kwargs", "temprature", "temperature")


class TestFewshot:
    def test_draws_do_not_depend_on_limit(self) -> None:
        """An item's examples are the same whatever --limit is (one generator, file order)."""
        assert draw_shots(100, 3, 2, 1234) == draw_shots(100, 3, 5, 1234)[:2]

    def test_num_fewshot_builds_lm_eval_plain_prompt(self, data_dir: Path) -> None:
        """--num-fewshot 2 without a template: two solved examples, then the question."""
        planned = plan("ethics_justice", data_dir, PromptSettings(num_fewshot=2), limit=2)
        zero = plan("ethics_justice", data_dir, PromptSettings(), limit=2)
        for shot, plain in zip(planned.samples, zero.samples, strict=True):
            assert shot.context.endswith("\n\n" + plain.context)
            assert shot.context.count("\nAnswer: ") == 2
        assert planned.prompt["num_fewshot"] == 2
        assert planned.prompt["fewshot_seed"] == 1234

    def test_truthfulqa_keeps_its_primer(self) -> None:
        """TruthfulQA has no pool: asking for shots names its fixed primer, exit 2."""
        proc = sbt("run", "--tasks", "truthfulqa_mc1", "--models", "smollm2", "--num-fewshot", "3")
        assert_one_line_error(proc, "truthfulqa_mc1", "no few-shot pool", "primer")

    def test_task_without_pool_is_one_line(self) -> None:
        """--num-fewshot on a task without a pool (a user task) is one line, exit 2."""
        proc = sbt(
            "run",
            "--include-path",
            str(EXAMPLE),
            "--tasks",
            "my_yes_no",
            "--models",
            "smollm2",
            "--num-fewshot",
            "1",
        )
        assert_one_line_error(proc, "my_yes_no", "no few-shot pool")

    def test_multiturn_needs_the_template(self) -> None:
        """--fewshot-as-multiturn without --apply-chat-template is refused, as in lm-eval."""
        with pytest.raises(SbtError, match="needs --apply-chat-template"):
            PromptSettings(fewshot_as_multiturn=True).check()


class TestRecords:
    def test_chat_run_records_and_caches_what_was_applied(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """Chat template on and off: each run records its settings per task, prompts differ."""
        from transformers import AutoTokenizer

        folder = tmp_path / "chat-model"
        shutil.copytree(tiny_model_dir, folder)
        tok = AutoTokenizer.from_pretrained(folder)
        tok.chat_template = (
            "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
        )
        tok.save_pretrained(folder)
        model = f"hf:{folder}"
        common = [
            "--tasks",
            "ethics_cm",
            "--models",
            model,
            "--limit",
            "2",
            "--data-dir",
            str(data_dir),
        ]
        assert run_cli("run", *common, "--output-dir", str(tmp_path / "raw")) == 0
        assert (
            run_cli(
                "run",
                *common,
                "--output-dir",
                str(tmp_path / "chat"),
                "--apply-chat-template",
                "--system-instruction",
                "Be fair.",
            )
            == 0
        )
        raw, chat = results_of(tmp_path / "raw"), results_of(tmp_path / "chat")
        assert "prompt_format" not in raw["model"]
        assert raw["tasks"]["ethics_cm"]["prompt"]["chat_template"] is False
        entry = chat["tasks"]["ethics_cm"]
        assert entry["prompt"] == {
            "chat_template": True,
            "system_instruction": "Be fair.",
            "fewshot_as_multiturn": True,
            "num_fewshot": 0,
        }
        assert entry["hash"] != raw["tasks"]["ethics_cm"]["hash"]
        (line, *_) = (tmp_path / "chat").glob("*/samples_ethics_cm.jsonl")
        first = json.loads(line.read_text().splitlines()[0])
        assert first["context"].startswith("<system>Be fair.<user>")
        assert first["context"].endswith("<assistant>")
        # The leaderboard refuses to rank the two runs side by side.
        spec = load_leaderboard_spec("sbt_text")
        with pytest.raises(SbtError, match="mixes prompt settings"):
            build_table([RunResults.from_document(d) for d in (raw, chat)], spec)

    def test_model_yaml_keys(self, tmp_path: Path) -> None:
        """A model YAML sets the same settings; the flags fill only what it leaves out."""
        from sbt_bench.backends import parse_model_spec

        (tmp_path / "config.json").write_text("{}")
        path = tmp_path / "m.yaml"
        path.write_text(
            f"model: hf:{tmp_path}\napply_chat_template: true\nnum_fewshot: 2\n"
            "gen_kwargs: {temperature: 0.5}\n"
        )
        spec = parse_model_spec(str(path))
        merged = PromptSettings(num_fewshot=1).over(spec.prompt)
        assert (merged.apply_chat_template, merged.num_fewshot) == (True, 1)
        assert merged.gen_kwargs.temperature == 0.5

    def test_model_yaml_unknown_gen_key(self, tmp_path: Path) -> None:
        """An unknown gen_kwargs key in a model YAML names the file, exit 2."""
        path = tmp_path / "m.yaml"
        path.write_text("model: hf:/tmp\ngen_kwargs: {beams: 4}\n")
        proc = sbt("run", "--tasks", "ethics_cm", "--models", str(path))
        assert_one_line_error(proc, str(path), "beams")
