"""`sbt-bench score`: score recorded answers (a `--predict-only` run or an answer file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.backends import BackendOptions
from sbt_bench.cli.output import summarize
from sbt_bench.evaluation.config import parse_limit
from sbt_bench.evaluation.runner import RunConfig
from sbt_bench.tasks import bundled_catalog
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.user_tasks import user_catalog


def score(args: argparse.Namespace) -> int:
    """Score recorded answers of one task; print its summary."""
    from sbt_bench.rescoring.score import (  # noqa: PLC0415 - imports the runner
        ScoreTarget,
        score_predictions,
    )

    cfg = RunConfig(
        output_dir=Path(args.output_dir),
        options=BackendOptions(),
        limit=parse_limit(args.limit),
        # Only an explicit --data-dir: a predict-only run's recorded folder beats $SBT_DATA_DIR.
        data_dir=resolve_data_dir(args.data_dir) if args.data_dir else None,
        parser=args.parser,
        catalog=user_catalog(args.include_path, bundled_catalog()),
    )
    target = ScoreTarget(Path(args.output_dir), args.name, overwrite=args.overwrite)
    folder, results = score_predictions(args.task, Path(args.predictions), cfg, target)
    print(f"\n{results.model.name}  ->  {folder / 'results.json'}")
    print(summarize(results, [args.task]))
    return 0
