"""One run configuration: `run`'s flags and `evaluate()`'s keywords build the same RunSettings."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from pydantic import ValidationError

import sbt_bench
from sbt_bench.cli.parser import build_parser
from sbt_bench.core.errors import SbtError
from sbt_bench.evaluation.config import (
    CLI_DESTS,
    CLI_ONLY,
    RunOptions,
    RunSettings,
    flag_of,
    prepare_run,
)
from sbt_bench.tasks.spec import CorruptionSpec


def run_actions() -> list[argparse.Action]:
    """The actions of the `run` subcommand's parser."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices["run"]._actions)


def settings(**keywords: Any) -> RunSettings:
    """Settings from API keywords, on a model and task that need no file to be checked."""
    return RunSettings.from_keywords(**({"models": "smollm2", "tasks": "ethics_cm"} | keywords))


class TestEveryFlagHasAKeyword:
    def test_every_run_flag_maps_to_an_evaluate_keyword(self) -> None:
        """Each `run` flag sets a RunSettings field that `evaluate()` takes as a keyword."""
        keywords = {"models", "tasks", *get_type_hints(RunOptions)}
        missing = []
        for action in run_actions():
            if action.dest in CLI_ONLY:
                continue
            field = CLI_DESTS.get(action.dest, action.dest)
            if field not in RunSettings.model_fields or field not in keywords:
                missing.append(action.option_strings[0])
        assert missing == []

    def test_exemptions_are_real_flags_with_reasons(self) -> None:
        """Every CLI-only exemption names a `run` flag that exists, and says why."""
        dests = {action.dest for action in run_actions()}
        assert set(CLI_ONLY) <= dests
        assert all(len(reason) > 10 for reason in CLI_ONLY.values())

    def test_keywords_are_exactly_the_settings(self) -> None:
        """`evaluate()`'s typed keywords and RunSettings' fields are one list."""
        assert {"models", "tasks", *get_type_hints(RunOptions)} == set(RunSettings.model_fields)

    def test_flag_names_follow_the_parser(self) -> None:
        """The flag an error names is the flag the parser knows."""
        flags = {s for action in run_actions() for s in action.option_strings}
        for field in RunSettings.model_fields:
            assert flag_of(field) in flags, field


class TestCliAndApiAgree:
    def test_flags_and_keywords_give_equal_settings(self) -> None:
        """The same choices as flags or as keywords are one RunSettings value."""
        argv = [
            "run",
            "--tasks",
            "ethics_cm,ethics",
            "--models",
            "smollm2",
            "--limit",
            "0.5",
            "--batch-size",
            "auto",
            "--max-batch-tokens",
            "64",
            "--no-prefix-sharing",
            "--corruptions",
            "fog,snow:1,3",
            "--gen-kwargs",
            "temperature=0.5",
            "--skip-missing-images",
            "--overwrite",
            "--seed",
            "3",
            "--include-path",
            ".",
        ]
        from_cli = RunSettings.from_cli(build_parser().parse_args(argv))
        from_api = settings(
            tasks=["ethics_cm", "ethics"],
            limit=0.5,
            batch_size=None,
            max_batch_tokens=64,
            prefix_sharing=False,
            corruptions="fog,snow:1,3",
            gen_kwargs={"temperature": 0.5},
            skip_missing_images=True,
            overwrite=True,
            seed=3,
            include_path=["."],
            output_dir="results",
        )
        assert from_cli == from_api
        assert from_cli.corruptions == CorruptionSpec(("fog", "snow"), (1, 3))

    def test_settings_are_frozen(self) -> None:
        """A built configuration cannot change under the run."""
        with pytest.raises(ValidationError):
            settings().seed = 2  # type: ignore[misc]

    def test_api_reaches_the_flags_it_lacked(self, tmp_path: Path) -> None:
        """Judge, corruptions, skipping images, overwrite and packing reach the runner's config."""
        prepared = prepare_run(
            settings(
                judge="openai:gpt-4o",
                corruptions="all:2",
                skip_missing_images=True,
                overwrite=True,
                max_batch_tokens=96,
                prefix_sharing=False,
                offline=True,
            ),
            tmp_path,
        )
        cfg = prepared.config
        assert (cfg.judge, cfg.skip_missing_images, cfg.overwrite) == ("openai:gpt-4o", True, True)
        assert cfg.corruption == CorruptionSpec(("all",), (2,))
        assert (cfg.options.max_batch_tokens, cfg.options.prefix_sharing) == (96, False)
        assert cfg.options.offline is True
        assert [m.name for m in prepared.models] == ["smollm2"]


BAD_KEYWORDS = [
    ({"include_path": "my_tasks"}, ("evaluate(include_path=...)", "list of folders")),
    ({"tasks": 3}, ("evaluate(tasks=...)", "list of names")),
    ({"seed": 1.5}, ("evaluate(seed=...)", "integer", "1.5")),
    ({"batch_size": 2.0}, ("evaluate(batch_size=...)", "integer", "2.0")),
    ({"num_fewshot": "2"}, ("evaluate(num_fewshot=...)", "integer", "'2'")),
    ({"limit": math.nan}, ("evaluate(limit=...)", "fraction", "nan")),
    ({"limit": 0}, ("evaluate(limit=...)", "positive")),
    ({"limit": True}, ("evaluate(limit=...)", "True")),
    ({"max_batch_tokens": 0}, ("evaluate(max_batch_tokens=...)", "greater than or equal to 1")),
    ({"seed": -1}, ("evaluate(seed=...)", "greater than or equal to 0")),
    ({"dtype": "fp8"}, ("evaluate(dtype=...)", "'float16'", "'fp8'")),
    ({"parser": "strict"}, ("evaluate(parser=...)", "'default'", "'official'")),
    ({"device": "tpu"}, ("evaluate(device=...)", "'tpu'", "cuda:N")),
    ({"overwrite": "yes"}, ("evaluate(overwrite=...)", "boolean", "'yes'")),
    ({"gen_kwargs": {"temprature": 1}}, ("evaluate(gen_kwargs=...)", "temprature", "temperature")),
    ({"corruptions": "fog:9"}, ("evaluate(corruptions=...)", "1 to 5", "'fog:9'")),
    ({"log": "mlflow"}, ("evaluate(log=...)", "mlflow", "wandb")),
    ({"btach_size": 4}, ("evaluate(btach_size=...)", "unknown name", "mean 'batch_size'", "limit")),
]


@pytest.mark.parametrize(
    ("keywords", "needles"), BAD_KEYWORDS, ids=[str(k) for k, _ in BAD_KEYWORDS]
)
def test_bad_keyword_is_one_line(keywords: dict[str, Any], needles: tuple[str, ...]) -> None:
    """A wrong type, range or name is one SbtError line naming the keyword and what is allowed."""
    with pytest.raises(SbtError) as caught:
        settings(**keywords)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_evaluate_refuses_before_any_model_work() -> None:
    """`evaluate()` checks its keywords first: an unknown one costs no model load."""
    unknown = r"evaluate\(judje=\.\.\.\): unknown name\. Did you mean 'judge'\?"
    with pytest.raises(SbtError, match=unknown):
        sbt_bench.evaluate("hf:/nonexistent", "ethics_cm", judje="openai:gpt-4o")  # type: ignore[typeddict-unknown-key]


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--max-batch-tokens", "0"], ("--max-batch-tokens:", "greater than or equal to 1", "0")),
        (["--num-fewshot", "-1"], ("--num-fewshot:", "greater than or equal to 0", "-1")),
        (["--dtype", "fp8"], ("--dtype:", "'bfloat16'", "'fp8'")),
        (["--device", "tpu"], ("--device:", "'tpu'", "cuda:N")),
        (["--corruptions", "fog:9"], ("--corruptions 'fog:9'",)),
    ],
)
def test_bad_flag_is_one_line_naming_the_flag(argv: list[str], needles: tuple[str, ...]) -> None:
    """The CLI refuses the same values as the API, naming the flag instead of the keyword."""
    args = build_parser().parse_args(["run", "--tasks", "ethics_cm", "--models", "smollm2", *argv])
    with pytest.raises(SbtError) as caught:
        RunSettings.from_cli(args)
    for needle in needles:
        assert needle in str(caught.value), (needle, str(caught.value))
