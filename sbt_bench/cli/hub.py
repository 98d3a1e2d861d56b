"""`--push-to-hub REPO_ID` on run, export and report: the token checked first, then a push."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from sbt_bench.results.hub_upload import hub_token, push_files


def check_push(args: argparse.Namespace) -> None:
    """Refuse --push-to-hub without a token before any work is done."""
    if getattr(args, "push_to_hub", None):
        hub_token()


def push(args: argparse.Namespace, files: Sequence[tuple[Path, str]]) -> None:
    """Push the files (local path, path in repo) when --push-to-hub was given; say what went."""
    repo_id = getattr(args, "push_to_hub", None)
    if not repo_id:
        return
    report = push_files(files, repo_id)
    print(
        f"pushed {len(report.uploaded)} file(s) to the hub dataset {repo_id} "
        f"({len(report.unchanged)} unchanged)"
    )
