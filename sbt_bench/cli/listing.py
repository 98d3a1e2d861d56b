"""`sbt-bench list`: tasks with their metrics and data source, and groups."""

from __future__ import annotations

import argparse

from sbt_bench.cli.output import format_rows
from sbt_bench.tasks import build_task, bundled_catalog
from sbt_bench.tasks.source import describe_source, resolve_data_dir
from sbt_bench.tasks.user_tasks import user_catalog


def list_tasks(args: argparse.Namespace) -> int:
    """Print every task (metrics, data source) and group (members)."""
    catalog = user_catalog(args.include_path, bundled_catalog())
    data_dir = resolve_data_dir(args.data_dir)
    rows = []
    for name in catalog.tasks.names():
        spec = catalog.tasks.get(name)
        metrics = ",".join(build_task(spec).metric_names())
        rows.append((name, spec.kind, metrics, describe_source(spec.dataset, data_dir)))
    print(format_rows(("task", "kind", "metrics", "data"), rows))
    print()
    groups = catalog.groups
    group_rows = [
        (g, ",".join(groups.get(g).tasks), groups.get(g).mean_of or "-") for g in groups.names()
    ]
    print(format_rows(("group", "tasks", "mean of"), group_rows))
    return 0
