"""Tables on the terminal or in `--output` files, shared by the subcommands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sbt_bench.analysis.leaderboard import format_value
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic
from sbt_bench.results.schema import RunResults


def summarize(results: RunResults, task_names: list[str]) -> str:
    """A task | metric | value | stderr | n table of one model's results."""
    rows = []
    for name in task_names:
        entry = results.tasks[name]
        for metric, value in entry.metrics.items():
            err = entry.stderr.get(metric)
            n = str(entry.n_samples)
            rows.append((name, metric, format_value(value), format_value(err), n))
    for name, group in results.groups.items():
        for metric, value in group.metrics.items():
            err = group.stderr.get(metric)
            rows.append((f"{name} (mean)", metric, format_value(value), format_value(err), "-"))
    return format_rows(("task", "metric", "value", "stderr", "n"), rows)


def split_names(text: str, flag: str) -> list[str]:
    """Comma-separated names of a flag; an empty list is refused."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise SbtError(
            f"{flag} {text!r} names nothing; give comma-separated names, e.g. {flag} a,b"
        )
    return items


def format_rows(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns under a dashed rule."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def emit(text: str, output: str | None) -> None:
    """Write a table to `--output` (atomically) or print it."""
    if output:
        write_atomic(Path(output), text, fix="give --output another path")
        print(f"wrote {output}")
    else:
        print(text, end="")
