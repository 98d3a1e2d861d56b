"""`sbt-bench run`: evaluate models on tasks and print each model's summary."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sbt_bench.analysis.differences import differences, render_differences, spec_tasks
from sbt_bench.analysis.leaderboard import LeaderboardSpec, load_leaderboard_spec
from sbt_bench.backends import BackendOptions, ModelSpec, parse_model_spec
from sbt_bench.backends.models import with_lora_procedure
from sbt_bench.cli.output import split_names, summarize
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import PromptSettings, parse_gen_kwargs
from sbt_bench.evaluation.preflight import check_image_input
from sbt_bench.evaluation.runner import RunConfig, evaluate_model, task_spec
from sbt_bench.evaluation.sharding import device_for, init_process_group
from sbt_bench.results.logging_sinks import check_sinks, log_results
from sbt_bench.tasks import GROUPS, TASKS, expand_task_names
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.spec import CorruptionSpec
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks


def run(args: argparse.Namespace) -> int:
    """Evaluate each model on each task; print a summary table per model (and a comparison)."""
    limit = parse_limit(args.limit)
    prompt = PromptSettings(
        apply_chat_template=args.apply_chat_template,
        system_instruction=args.system_instruction,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
        num_fewshot=args.num_fewshot,
        gen_kwargs=parse_gen_kwargs(args.gen_kwargs),
    )
    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    board, task_names, groups = _run_tasks(args)
    specs = _model_specs(args, board)
    if args.compare and len(specs) != 2:  # noqa: PLR2004 - a pair
        raise SbtError(f"--compare needs exactly two --models, got {len(specs)}")
    if args.judge:
        parse_model_spec(args.judge)  # a bad judge spec stops the run before any model work
    check_run_flags(args)
    sinks = check_sinks(split_names(args.log, "--log")) if args.log else ()
    group = init_process_group(args.device)
    cfg = RunConfig(
        output_dir=Path(args.output_dir),
        options=BackendOptions(
            device=device_for(group, args.device),
            dtype=args.dtype,
            batch_size=parse_batch_size(args.batch_size),
            max_batch_tokens=args.max_batch_tokens,
            prefix_sharing=not args.no_prefix_sharing,
        ),
        limit=limit,
        data_dir=resolve_data_dir(args.data_dir),
        seed=args.seed,
        group=group,
        parser=args.parser,
        skip_missing_images=args.skip_missing_images,
        corruption=parse_corruptions(args.corruptions),
        judge=args.judge,
        overwrite=args.overwrite,
        prompt=prompt,
        predict_only=args.predict_only,
    )
    n_failed, docs = 0, []
    for spec in specs:  # the last model's refusal must not come after the first one's run
        check_image_input(spec, [task_spec(name, cfg) for name in task_names])
    for spec in specs:
        results = evaluate_model(spec, task_names, groups, cfg)
        docs.append(results)
        if group.is_main:
            print(f"\n{spec.name}  ->  {cfg.output_dir / spec.slug() / 'results.json'}")
            print(summarize(results, task_names))
            log_results(sinks, results, cfg.output_dir / spec.slug())
            n_failed += sum(results["tasks"][t]["n_failed"] for t in task_names)
    # Only after success: a failing process exits and the launcher stops the others, while
    # a barrier here could pair with another rank's barrier inside the run.
    group.close()
    if args.compare and board is not None and group.is_main:
        print_pair_statistics(cfg.output_dir, specs, task_names, args.seed)
        print(f"\n{specs[1].name} vs {specs[0].name} ({board.name})")
        print(render_differences((specs[0].name, specs[1].name), differences(docs, board)), end="")
    if n_failed:
        print(
            f"sbt-bench: {n_failed} items failed after all retries and were not scored; "
            "rerun the same command to retry only those",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_tasks(args: argparse.Namespace) -> tuple[LeaderboardSpec | None, list[str], Any]:
    """The leaderboard spec (`--compare` or `--leaderboard`), task names and groups to run."""
    if args.compare and args.leaderboard:
        raise SbtError("give --compare or --leaderboard, not both")
    chosen = args.compare or args.leaderboard
    board = load_leaderboard_spec(chosen) if chosen else None
    if args.tasks is not None:
        names = split_names(args.tasks, "--tasks")
    elif board is not None:
        names = spec_tasks(board)
    else:
        raise SbtError("give --tasks (or --compare/--leaderboard SPEC, which names its tasks)")
    task_names, groups = expand_task_names(names)
    return board, task_names, groups


def _model_specs(args: argparse.Namespace, board: LeaderboardSpec | None) -> list[ModelSpec]:
    """The `--models` entries (else the leaderboard's `models:`), `--lora-procedure` applied."""
    entries = args.models
    if entries is None and board is not None and board.models:
        entries = ",".join(board.models)
    if entries is None:
        raise SbtError("give --models (or --leaderboard SPEC whose spec lists models:)")
    specs = [parse_model_spec(m) for m in split_names(entries, "--models")]
    if args.lora_procedure:
        specs = [with_lora_procedure(spec, args.lora_procedure) for spec in specs]
    return specs


def print_pair_statistics(
    output_dir: Path, specs: Sequence[ModelSpec], task_names: Sequence[str], seed: int
) -> None:
    """`sbt-bench compare` of the pair just run; tasks that cannot pair say why."""
    from sbt_bench.analysis.pairing import compare_runs, load_run, render_comparisons  # noqa: PLC0415

    base, other = (load_run(output_dir / spec.slug()) for spec in specs)
    comparison = compare_runs(base, other, task_names, seed=seed, strict=False)
    print()
    print(render_comparisons([comparison], "md"), end="")


def parse_corruptions(text: str | None) -> CorruptionSpec | None:
    """`names[:severities]`, e.g. `fog,snow:1,3` or `all:2`; None keeps the task's own."""
    if text is None:
        return None
    names, _, severities = text.partition(":")
    try:
        levels = tuple(int(s) for s in severities.split(",")) if severities else (1, 3, 5)
    except ValueError:
        raise SbtError(
            f"--corruptions {text!r}: severities are integers 1-5, e.g. fog:1,3"
        ) from None
    if not all(1 <= level <= 5 for level in levels):  # noqa: PLR2004 - ImageNet-C's range
        raise SbtError(f"--corruptions {text!r}: severities must be 1 to 5")
    return CorruptionSpec(names=tuple(split_names(names, "--corruptions")), severities=levels)


def check_run_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers and unknown devices before any data or model is loaded."""
    if args.max_batch_tokens is not None and args.max_batch_tokens < 1:
        raise SbtError(
            f"--max-batch-tokens must be a positive number of tokens, got {args.max_batch_tokens}"
        )
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        raise SbtError(
            f"--device {args.device!r} is not a device sbt-bench runs on; use cpu, cuda or cuda:N"
        )


def parse_limit(text: str | None) -> int | float | None:
    """`--limit`: a positive item count, or a fraction between 0 and 1.

    Example:
        >>> parse_limit("10"), parse_limit("0.25"), parse_limit(None)
        (10, 0.25, None)
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value >= 1 and value.is_integer():
        return int(value)
    if 0 < value < 1:
        return value
    raise SbtError(
        f"--limit must be a positive number of items or a fraction between 0 and 1, got {text!r}"
    )


def parse_batch_size(text: str) -> int | None:
    """A positive integer, or None for `auto`."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise SbtError(f"--batch-size must be a positive integer or 'auto', got {text!r}")
    return int(text)
