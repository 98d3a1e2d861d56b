"""`sbt-bench list`: tasks with their metrics and data source, and groups."""

from __future__ import annotations

import argparse

from sbt_bench.cli.output import format_rows
from sbt_bench.tasks import GROUPS, TASKS, build_task
from sbt_bench.tasks.source import describe_source, resolve_data_dir
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks


def list_tasks(args: argparse.Namespace) -> int:
    """Print every task (metrics, data source) and group (members)."""
    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    data_dir = resolve_data_dir(args.data_dir)
    rows = []
    for name in TASKS.names():
        spec = TASKS.get(name)
        metrics = ",".join(build_task(spec).metric_names())
        rows.append((name, spec.kind, metrics, describe_source(spec.dataset, data_dir)))
    print(format_rows(("task", "kind", "metrics", "data"), rows))
    print()
    group_rows = [
        (g, ",".join(GROUPS.get(g).tasks), GROUPS.get(g).mean_of or "-") for g in GROUPS.names()
    ]
    print(format_rows(("group", "tasks", "mean of"), group_rows))
    return 0
