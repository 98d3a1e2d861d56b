"""`sbt-bench leaderboard`: results folders tabulated as models x tasks."""

from __future__ import annotations

import argparse

from sbt_bench.analysis.baseline import (
    compare_to_base,
    load_entries,
    render_base_csv,
    render_base_markdown,
)
from sbt_bench.analysis.leaderboard import (
    build_table,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
)
from sbt_bench.cli.output import emit


def build_leaderboard(args: argparse.Namespace) -> int:
    """Print (or write) the leaderboard table of the given results."""
    spec = load_leaderboard_spec(args.spec)
    entries = load_entries(args.results)
    table = build_table([e.results for e in entries], spec)
    if args.base:
        comparison = compare_to_base(entries, spec, args.base)
        if args.format == "csv":
            text = render_base_csv(table, comparison)
        else:
            text = render_base_markdown(table, comparison, ci=args.ci)
    elif args.format == "csv":
        text = render_csv(table, ci=args.ci)
    else:
        text = render_markdown(table, ci=args.ci)
    emit(text, args.output)
    return 0
