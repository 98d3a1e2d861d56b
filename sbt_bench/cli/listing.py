"""`sbt-bench list`: tasks with their metrics and data source, and groups; or models.

The default view fits 100 columns (long cells cut with `…`); `--verbose` shows every
metric and the full data source.
"""

from __future__ import annotations

import argparse

from sbt_bench.backends.models import MODEL_ALIASES
from sbt_bench.backends.paper_models import LOCAL_ENV, catalogue_rows
from sbt_bench.cli.output import format_rows
from sbt_bench.tasks import build_task, bundled_catalog
from sbt_bench.tasks.source import describe_source, resolve_data_dir
from sbt_bench.tasks.user_tasks import user_catalog

WIDTH = 100


def list_tasks(args: argparse.Namespace) -> int:
    """Print every task (kind, data source, metrics) and group (members); or, `--models`, models."""
    if args.models:
        return list_models()
    catalog = user_catalog(args.include_path, bundled_catalog())
    data_dir = resolve_data_dir(args.data_dir)
    rows = []
    for name in catalog.tasks.names():
        spec = catalog.tasks.get(name)
        metrics = ",".join(build_task(spec, hooks=catalog.hooks).metric_names())
        if args.details:
            source = describe_source(spec.dataset, data_dir)
        else:
            source = "hub" if spec.dataset.hub and data_dir is None else "--data-dir"
        rows.append((name, spec.kind, source, metrics))
    groups = catalog.groups
    group_rows = [
        (g, groups.get(g).mean_of or "-", ",".join(groups.get(g).tasks)) for g in groups.names()
    ]
    tables = (
        format_rows(("task", "kind", "data", "metrics"), rows),
        format_rows(("group", "mean of", "tasks"), group_rows),
    )
    for table in tables:
        print(fit_width(table, WIDTH) if not args.details else _strip(table))
        print()
    if not args.details:
        print("every metric and the full data source: sbt-bench list --verbose")
    return 0


def list_models() -> int:
    """Print the model aliases and the paper's checkpoint catalogue (hub id, layout, base)."""
    print(format_rows(("alias", "model"), [(name, "alias") for name in MODEL_ALIASES.names()]))
    print()
    header = ("model", "hub id", "layout", "base", "template", "unverified")
    print(_strip(format_rows(header, catalogue_rows())))
    print(
        "\nrevision: unpinned for every entry (no source records one); local copies: "
        f"${LOCAL_ENV}/<hub id>; facts marked unverified are not stated by any source"
    )
    return 0


def fit_width(table: str, width: int) -> str:
    """Each line cut to `width` characters (the last column is the long one), marked `…`."""
    lines = [line.rstrip() for line in table.splitlines()]
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


def _strip(table: str) -> str:
    return "\n".join(line.rstrip() for line in table.splitlines())
