"""`sbt-bench compare`: paired statistics of runs against a base run, item by item."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sbt_bench.cli.output import emit, split_names
from sbt_bench.core.errors import SbtError

log = logging.getLogger(__name__)


def compare(args: argparse.Namespace) -> int:
    """Print paired statistics of each OTHER against BASE; write their flipped items."""
    from sbt_bench.analysis.pairing import (  # noqa: PLC0415 - scipy only when comparing
        compare_runs,
        load_run,
        render_comparisons,
        write_flips,
    )

    if args.resamples < 1:
        raise SbtError("--resamples must be a positive number of draws")
    base = load_run(Path(args.base))
    tasks = split_names(args.tasks, "--tasks") if args.tasks else None
    comparisons = []
    for folder in args.others:
        other = load_run(Path(folder))
        comparison = compare_runs(base, other, tasks, resamples=args.resamples, seed=args.seed)
        flips = Path(args.flips_dir) / f"{base.path.name}__vs__{other.path.name}"
        for path in write_flips(comparison, flips):
            log.info("wrote %s", path)
        comparisons.append(comparison)
    text = render_comparisons(comparisons, args.format)
    emit(text, args.output)
    return 0
