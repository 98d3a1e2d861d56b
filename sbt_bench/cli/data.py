"""`sbt-bench data fetch|check`: get the data a task needs, and see what is there."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sbt_bench.cli.output import format_rows, split_names
from sbt_bench.core.errors import SbtError
from sbt_bench.core.hub import check_hub
from sbt_bench.tasks import TASKS, TaskSpec, expand_task_names
from sbt_bench.tasks.data_files import NeededFile, list_needed_files
from sbt_bench.tasks.source import DATA_DIR_ENV, prepare_hub_dataset


def data(args: argparse.Namespace) -> int:
    """Dispatch `data fetch` and `data check`."""
    if args.data_command == "fetch":
        return fetch(args)
    return check(args)


def check(args: argparse.Namespace) -> int:
    """One table of every file the tasks need, present or missing; 1 when any is missing."""
    data_dir = _data_dir(args.data_dir) if _has_data_dir(args.data_dir) else None
    needed = list_needed_files(_specs(args.tasks), data_dir)
    rows = [(f.path, f.status(), _tasks_label(f), f.note) for f in needed]
    if data_dir is None:
        print(f"no data folder (--data-dir or {DATA_DIR_ENV}): tasks with a hub copy read the hub")
    else:
        print(f"data folder: {data_dir}")
    table = format_rows(("file", "status", "tasks", "note"), rows)
    print("\n".join(line.rstrip() for line in table.splitlines()))
    missing = [f for f in needed if not f.present]
    required = [f for f in missing if not f.optional]
    if not missing:
        print(f"\nall {len(needed)} files present")
    else:
        print(f"\n{len(missing)} of {len(needed)} missing; where to get them:")
        _print_hints(missing)
    return 1 if required else 0


def fetch(args: argparse.Namespace) -> int:
    """Prefetch the hub datasets (pinned commits); say where the rest comes from."""
    specs = _specs(args.benchmarks)
    data_dir = _data_dir(args.data_dir) if _has_data_dir(args.data_dir) else Path("DIR")
    on_hub = [s for s in specs if s.dataset.hub is not None]
    if on_hub:
        reason = _why_offline()
        if reason is not None:
            raise SbtError(
                f"the Hugging Face hub is unreachable ({reason}); put the files in a folder and "
                f"pass --data-dir DIR (`sbt-bench data check --data-dir DIR` lists them)"
            )
    done: set[tuple[str | None, str | None, str | None]] = set()
    for spec in on_hub:
        key = (spec.dataset.hub, spec.dataset.hub_config, spec.dataset.revision)
        if key not in done:
            prepare_hub_dataset(spec.task, spec.dataset, offline=False)
            done.add(key)
            pin = spec.dataset.revision or "unpinned"
            print(f"fetched {spec.dataset.hub} ({spec.dataset.hub_config}) @ {pin}")
    # The hub copies hold every image they need; the rest must be in the data folder.
    local_only = [s for s in specs if s.dataset.hub is None]
    missing = [f for f in list_needed_files(local_only, data_dir) if not f.present]
    if on_hub:
        print("runs without --data-dir now read these from the Hugging Face cache")
    if missing:
        print(f"\nnot on the hub; put these under {data_dir}:")
        _print_hints(missing)
        print(f"then: sbt-bench data check --data-dir {data_dir} and run with --data-dir")
    return 0


def _why_offline() -> str | None:
    """Why the hub cannot be used now (offline mode chosen, or the probe failed), else None."""
    access = check_hub()
    if not access.offline:
        return None
    return access.reason or "offline mode is chosen (HF_HUB_OFFLINE)"


def _specs(names: str | list[str] | None) -> list[TaskSpec]:
    if isinstance(names, str):
        names = split_names(names, "--tasks")
    chosen = names or TASKS.names()
    tasks, _ = expand_task_names(list(chosen))
    return [TASKS.get(name) for name in tasks]


def _has_data_dir(flag: str | None) -> bool:
    return bool(flag or os.environ.get(DATA_DIR_ENV))


def _data_dir(flag: str | None) -> Path:
    """The data folder; one that does not exist yet simply holds nothing."""
    value = flag or os.environ.get(DATA_DIR_ENV)
    if not value:
        raise SbtError(f"name the data folder: pass --data-dir DIR (or set {DATA_DIR_ENV})")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise SbtError(f"--data-dir {path} is a file; pass a folder")
    return path


def _tasks_label(needed: NeededFile) -> str:
    tasks = needed.tasks
    return tasks[0] if len(tasks) == 1 else f"{tasks[0]} +{len(tasks) - 1}"


def _print_hints(missing: list[NeededFile]) -> None:
    """One line per top-level folder: how many of its files are missing, and where from."""
    folders: dict[str, list[NeededFile]] = {}
    for needed in missing:
        folders.setdefault(needed.path.split("/", 1)[0], []).append(needed)
    for folder, files in folders.items():
        print(f"  {folder}/ ({len(files)} missing): {files[0].hint()}")
    hub = sorted({f.hub for f in missing if f.hub and not f.optional})
    if hub:
        print(f"  without --data-dir, runs read these from the hub instead: {', '.join(hub)}")
