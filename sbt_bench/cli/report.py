"""`sbt-bench report`: one self-contained HTML page of results."""

from __future__ import annotations

import argparse
from pathlib import Path


def write_report(args: argparse.Namespace) -> int:
    """Write the HTML report (and with --plots its charts as PNG and SVG)."""
    from sbt_bench.analysis.report import build_report  # noqa: PLC0415 - matplotlib loads only here

    written = build_report(
        args.results,
        spec_name=args.spec,
        base=args.base,
        output=Path(args.output),
        plots=Path(args.plots) if args.plots else None,
    )
    for path in written:
        print(f"wrote {path}")
    return 0
