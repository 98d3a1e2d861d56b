"""`sbt-bench report`: one self-contained HTML page of results."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.cli.hub import check_push, push
from sbt_bench.core.errors import SbtError


def write_report(args: argparse.Namespace) -> int:
    """Write the HTML report (and with --plots its charts as PNG and SVG)."""
    from sbt_bench.analysis.report import build_report  # noqa: PLC0415 - matplotlib loads only here
    from sbt_bench.analysis.report.page import GENERATOR_TAG  # noqa: PLC0415

    output = Path(args.output)
    if not args.overwrite and output.is_file() and not _is_report(output, GENERATOR_TAG):
        raise SbtError(
            f"--output {output} exists and is no sbt-bench report; pass --overwrite to "
            "replace it, or give --output another file"
        )
    check_push(args)
    written = build_report(
        args.results,
        spec_name=args.spec,
        base=args.base,
        output=output,
        plots=Path(args.plots) if args.plots else None,
    )
    for path in written:
        print(f"wrote {path}")
    push(args, [(path, _repo_name(path, Path(args.output), args.plots)) for path in written])
    return 0


def _is_report(path: Path, tag: str) -> bool:
    """Whether `path` is a page `report` wrote (its head carries the generator tag)."""
    try:
        with path.open("rb") as f:
            return tag.encode("utf-8") in f.read(4096)
    except OSError:
        return False


def _repo_name(path: Path, page: Path, plots: str | None) -> str:
    """The page at the repository root, the charts under `plots/`."""
    if path == page:
        return page.name
    return f"plots/{path.relative_to(Path(plots)).as_posix()}" if plots else path.name
