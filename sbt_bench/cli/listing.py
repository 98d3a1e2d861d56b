"""`sbt-bench list`: tasks with their metrics and data source, and groups; or models."""

from __future__ import annotations

import argparse

from sbt_bench.backends.models import MODEL_ALIASES
from sbt_bench.backends.paper_models import LOCAL_ENV, catalogue_rows
from sbt_bench.cli.output import format_rows
from sbt_bench.tasks import build_task, bundled_catalog
from sbt_bench.tasks.source import describe_source, resolve_data_dir
from sbt_bench.tasks.user_tasks import user_catalog


def list_tasks(args: argparse.Namespace) -> int:
    """Print every task (metrics, data source) and group (members); or, `--models`, models."""
    if args.models:
        return list_models()
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


def list_models() -> int:
    """Print the model aliases and the paper's checkpoint catalogue (hub id, layout, base)."""
    print(format_rows(("alias", "model"), [(name, "alias") for name in MODEL_ALIASES.names()]))
    print()
    header = ("model", "hub id", "layout", "base", "template", "unverified")
    print(format_rows(header, catalogue_rows()))
    print(
        "\nrevision: unpinned for every entry (no source records one); local copies: "
        f"${LOCAL_ENV}/<hub id>; facts marked unverified are not stated by any source"
    )
    return 0
