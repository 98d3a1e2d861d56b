"""`sbt-bench export RESULTS... --format eee --output DIR`: records other tools read."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.cli.hub import check_push, push
from sbt_bench.results.hub_upload import folder_files


def export(args: argparse.Namespace) -> int:
    """Write (and validate) Every Eval Ever records of the given result folders."""
    from sbt_bench.analysis.eee import export_eee  # noqa: PLC0415 - heavy only here

    check_push(args)
    written = export_eee(args.results, Path(args.output), base=args.base, overwrite=args.overwrite)
    for record in written:
        print(
            f"wrote {record.aggregate} ({record.n_results} results) and {record.samples.name} "
            f"({record.n_instances} items): {record.model}, {record.group}"
        )
    push(args, folder_files(Path(args.output)))
    return 0
