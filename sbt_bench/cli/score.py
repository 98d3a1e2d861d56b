"""`sbt-bench score`: score recorded answers (a `--predict-only` run or an answer file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.backends import BackendOptions
from sbt_bench.cli.output import summarize
from sbt_bench.cli.run import parse_limit
from sbt_bench.evaluation.runner import RunConfig
from sbt_bench.tasks import GROUPS, TASKS
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks


def score(args: argparse.Namespace) -> int:
    """Score recorded answers of one task; print its summary."""
    from sbt_bench.rescoring.score import score_predictions  # noqa: PLC0415 - imports the runner

    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    cfg = RunConfig(
        output_dir=Path(args.output_dir),
        options=BackendOptions(),
        limit=parse_limit(args.limit),
        data_dir=resolve_data_dir(args.data_dir),
        parser=args.parser,
    )
    results = score_predictions(args.task, Path(args.predictions), cfg)
    print(summarize(results, [args.task]))
    return 0
