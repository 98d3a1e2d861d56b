"""`sbt-bench run`: evaluate models on tasks and print each model's summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sbt_bench.analysis.differences import differences, render_differences, spec_tasks
from sbt_bench.analysis.leaderboard import load_leaderboard_spec
from sbt_bench.backends import ModelSpec
from sbt_bench.cli.hub import check_push, push
from sbt_bench.cli.output import summarize
from sbt_bench.core.errors import SbtError
from sbt_bench.evaluation.config import RunSettings, prepare_run
from sbt_bench.evaluation.runner import RunConfig, evaluate_model
from sbt_bench.evaluation.sharding import init_process_group
from sbt_bench.results.hub_upload import folder_files
from sbt_bench.results.logging_sinks import log_results
from sbt_bench.results.schema import RunResults


def run(args: argparse.Namespace) -> int:
    """Evaluate each model on each task; print a summary table per model (and a comparison)."""
    check_push(args)  # before any work: a run is not repeated for want of a token
    if args.compare and args.leaderboard:
        raise SbtError("give --compare or --leaderboard, not both")
    chosen = args.compare or args.leaderboard
    board = load_leaderboard_spec(chosen) if chosen else None
    settings = RunSettings.from_cli(
        args,
        spec_tasks(board) if board is not None else None,
        board.models if board is not None and board.models else None,
    )
    if args.compare and len(settings.models) != 2:  # noqa: PLR2004 - a pair
        raise SbtError(f"--compare needs exactly two --models, got {len(settings.models)}")
    group = init_process_group(settings.device)
    prepared = prepare_run(settings, Path(args.output_dir), group)
    cfg, task_names = prepared.config, list(prepared.task_names)
    n_failed, docs = 0, []
    for spec in prepared.models:
        results = evaluate_model(spec, task_names, prepared.groups, cfg)
        docs.append(results)
        if group.is_main:
            print(f"\n{spec.name}  ->  {cfg.output_dir / spec.slug() / 'results.json'}")
            print(_summary(results, task_names, cfg.output_dir / spec.slug(), cfg))
            log_results(prepared.sinks, results, cfg.output_dir / spec.slug())
            push(args, folder_files(cfg.output_dir / spec.slug(), f"{spec.slug()}/"))
            n_failed += sum(results.tasks[t].n_failed for t in task_names)
    # Only after success: a failing process exits and the launcher stops the others, while
    # a barrier here could pair with another rank's barrier inside the run.
    group.close()
    if args.compare and board is not None and group.is_main:
        specs = prepared.models
        print_pair_statistics(cfg.output_dir, specs, task_names, settings.seed)
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


def print_pair_statistics(
    output_dir: Path, specs: Sequence[ModelSpec], task_names: Sequence[str], seed: int
) -> None:
    """`sbt-bench compare` of the pair just run; tasks that cannot pair say why."""
    from sbt_bench.analysis.pairing import compare_runs, load_run, render_comparisons  # noqa: PLC0415

    base, other = (load_run(output_dir / spec.slug()) for spec in specs)
    comparison = compare_runs(base, other, task_names, seed=seed, strict=False)
    print()
    print(render_comparisons([comparison], "md"), end="")


def _summary(results: RunResults, tasks: list[str], folder: Path, cfg: RunConfig) -> str:
    """The table of a scored run; for a predict-only run, how to score its answers."""
    if not cfg.predict_only:
        return summarize(results, tasks)
    return (
        "answers written, not scored; score each task with\n"
        f"  sbt-bench score <task> --predictions {folder}/samples_<task>.jsonl"
    )
