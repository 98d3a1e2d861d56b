"""`sbt-bench leaderboard`: results folders tabulated as models x tasks."""

from __future__ import annotations

import argparse

from sbt_bench.analysis.baseline import (
    compare_to_base,
    load_entries,
    render_base_csv,
    render_base_markdown,
)
from sbt_bench.analysis.breakdowns import build_breakdowns, render_breakdowns_markdown
from sbt_bench.analysis.leaderboard import (
    build_table,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
    table_cells,
)
from sbt_bench.analysis.published import compare_published, render_published_markdown
from sbt_bench.cli.output import emit
from sbt_bench.core.errors import SbtError


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
    if spec.published and args.format != "csv":
        cells = [[stats.interval for stats in row] for row in table_cells(table)]
        published = compare_published(spec.published, table.headers[1:], table.rows, cells)
        text += "\n" + render_published_markdown(published)
    if args.breakdown:
        if args.format == "csv":
            raise SbtError("--breakdown: markdown only; drop --format csv or --breakdown")
        tables = build_breakdowns([e.results for e in entries], spec)
        text += "\n" + render_breakdowns_markdown(tables, ci=args.ci)
    emit(text, args.output)
    return 0
