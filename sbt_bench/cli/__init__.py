"""`sbt-bench`: one module per subcommand; this module maps names to them and handles errors."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sbt_bench.cli.parser import build_parser
from sbt_bench.core.console import fit_streams_to_locale
from sbt_bench.core.errors import SbtError

Command = Callable[[argparse.Namespace], int]

# Imported late, by path: `list` must not import torch, `report` alone loads matplotlib.
SUBCOMMANDS: dict[str, str] = {
    "list": "sbt_bench.cli.listing:list_tasks",
    "run": "sbt_bench.cli.run:run",
    "leaderboard": "sbt_bench.cli.leaderboard:build_leaderboard",
    "score": "sbt_bench.cli.score:score",
    "convert-llava": "sbt_bench.cli.convert:convert_llava",
    "report": "sbt_bench.cli.report:write_report",
    "compare": "sbt_bench.cli.compare:compare",
    "export": "sbt_bench.cli.export:export",
    "data": "sbt_bench.cli.data:data",
}


def resolve_command(name: str) -> Command:
    """The function behind a subcommand."""
    module, _, attr = SUBCOMMANDS[name].partition(":")
    command: Command = getattr(importlib.import_module(module), attr)
    return command


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    fit_streams_to_locale()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status = resolve_command(args.command)(args)
    except SbtError as err:
        print(f"sbt-bench: error: {err}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        # The reader went away (`sbt-bench list | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        print(
            "sbt-bench: interrupted; finished work is saved, rerun the same command to resume",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(status)


__all__ = ["build_parser", "main"]
