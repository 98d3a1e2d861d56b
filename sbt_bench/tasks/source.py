"""Load a task's records from `--data-dir` or, by default, from the Hugging Face hub."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.hub import check_hub, offline_libraries
from sbt_bench.core.types import HubRevision
from sbt_bench.media.images import save_embedded_image
from sbt_bench.tasks.hooks import BUNDLED_HOOKS, TaskHooks
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import DatasetSpec, ImageSpec

DATA_DIR_ENV = "SBT_DATA_DIR"
UNPINNED = "unpinned"


@dataclass(frozen=True)
class TaskData:
    """A task's records, where they came from, and (hub only) at which commit."""

    records: list[Record]
    source: str
    revision: HubRevision | None = None


def resolve_data_dir(flag: str | None) -> Path | None:
    """`--data-dir` wins over $SBT_DATA_DIR; None means "load from the hub"."""
    value = flag or os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise SbtError(
            f"data dir {path} is a file, not a folder; pass --data-dir (or {DATA_DIR_ENV}) "
            "pointing at the folder laid out like ../shared/data"
        )
    if not path.is_dir():
        raise SbtError(
            f"data dir {path} does not exist; pass --data-dir (or {DATA_DIR_ENV}) "
            "pointing at a folder laid out like ../shared/data"
        )
    return path.resolve()


def describe_source(spec: DatasetSpec, data_dir: Path | None) -> str:
    """Where the records come from, for results files and `sbt-bench list`."""
    if data_dir is not None or Path(spec.local_file).is_absolute():
        return str((data_dir or Path()) / spec.local_file)
    hub = f"hf://{spec.hub}" + (f"/{spec.hub_config}" if spec.hub_config else "")
    pin = f"@{spec.revision}" if spec.revision else ""
    return f"{hub}[{spec.split}]{pin}" if spec.hub else f"--data-dir/{spec.local_file}"


def load_records(
    task: str,
    spec: DatasetSpec,
    data_dir: Path | None,
    *,
    offline: bool | None = None,
    hooks: TaskHooks = BUNDLED_HOOKS,
) -> list[Record]:
    """Read every record of the split, in file order, then apply the task's processor."""
    return read_task_data(task, spec, data_dir, offline=offline, hooks=hooks).records


def read_task_data(
    task: str,
    spec: DatasetSpec,
    data_dir: Path | None,
    *,
    offline: bool | None = None,
    hooks: TaskHooks = BUNDLED_HOOKS,
) -> TaskData:
    """`load_records`, with the source description and the hub commit the records came from.

    `offline`: read hub datasets from the local cache only (None: only if the hub is
    unreachable). `hooks`: where the reader and processor are looked up (the run's
    catalog's, which hold its user functions).
    """
    revision = None
    # A user task's file beside its YAML has an absolute path: no data dir needed.
    if data_dir is not None or Path(spec.local_file).is_absolute():
        records = _read_local(task, spec, data_dir or Path(), hooks)
    else:
        records, revision = _read_hub(task, spec, offline)
    if spec.process:
        records = hooks.processors.get(spec.process)(records)
    return TaskData(records, describe_source(spec, data_dir), revision)


def _read_local(task: str, spec: DatasetSpec, data_dir: Path, hooks: TaskHooks) -> list[Record]:
    path = data_dir / spec.local_file
    if not path.exists():
        raise SbtError(
            f"{task}: data file {path} not found; --data-dir must be laid out like "
            f"../shared/data (expected <data-dir>/{spec.local_file})"
        )
    return hooks.readers.get(spec.reader)(path)


def _read_hub(
    task: str, spec: DatasetSpec, offline: bool | None
) -> tuple[list[Record], HubRevision]:
    builder, rows = _load_hub(task, spec, offline, read=True)
    resolved = getattr(builder, "hash", None)
    resolved = resolved if isinstance(resolved, str) else None
    return with_image_files(task, rows), HubRevision(spec.revision or UNPINNED, resolved)


def prepare_hub_dataset(task: str, spec: DatasetSpec, offline: bool | None = None) -> None:
    """Download and prepare the task's hub dataset at its pinned commit (`data fetch`).

    Prepared once, it sits in the Hugging Face cache, where later runs (offline too) read it.
    """
    _load_hub(task, spec, offline, read=False)


def _load_hub(task: str, spec: DatasetSpec, offline: bool | None, *, read: bool) -> tuple[Any, Any]:
    """The prepared builder, and (with `read`) the split's rows."""
    if spec.hub is None:
        raise SbtError(
            f"{task} has no Hugging Face hub copy; pass --data-dir DIR with DIR/{spec.local_file}"
        )
    access = check_hub(offline)
    import datasets  # noqa: PLC0415 - slow import, only needed without a data dir

    try:
        # load_dataset's own three steps, kept apart so that the builder can say which
        # commit it resolved (its `hash`), the one record an unpinned task can give.
        with offline_libraries(access):
            builder = datasets.load_dataset_builder(
                spec.hub, spec.hub_config, revision=spec.revision
            )
            builder.download_and_prepare()
            rows = builder.as_dataset(split=spec.split) if read else None
    except Exception as err:  # noqa: BLE001 - any hub failure gets the same actionable message
        reason = access.reason or first_line(err)
        raise SbtError(
            f"{task}: cannot load {spec.hub} ({spec.hub_config}) from the Hugging Face hub "
            f"({reason}); pass --data-dir DIR (or set {DATA_DIR_ENV}) with DIR/{spec.local_file}"
        ) from None
    return builder, rows


def with_image_files(task: str, rows: Any) -> list[Record]:
    """Records whose image columns hold file paths instead of images.

    Each image is written to the cache once, as its undecoded bytes, so a task never holds
    its images in memory.
    """
    import datasets  # noqa: PLC0415

    columns = [k for k, v in rows.features.items() if isinstance(v, datasets.Image)]
    for column in columns:
        rows = rows.cast_column(column, datasets.Image(decode=False))
    records = []
    for index, row in enumerate(rows):
        record = dict(row)
        for column in columns:
            record[column] = str(save_embedded_image(record[column], task, index))
        records.append(record)
    return records


def locate_image(
    spec: ImageSpec, record: Mapping[str, Any], data_dir: Path | None, task: str, index: int
) -> Path:
    """The image file of a record: the first folder that holds it, else the first candidate.

    Whether it exists is checked later, for all items at once, so that one run reports
    every missing file (or skips them under `--skip-missing-images`).
    """
    value = record.get(spec.field)
    if value is None:
        raise SbtError(f"{task}: item {index} has no image field {spec.field!r}")
    if not isinstance(value, str):
        return save_embedded_image(value, task, index)
    if Path(value).is_absolute() or data_dir is None:
        return Path(value)
    try:
        folders = [folder.format_map(record) for folder in spec.folders]
    except KeyError as err:
        raise SbtError(f"{task}: item {index} lacks field {err} for its image folder") from None
    candidates = [data_dir / folder / value for folder in folders]
    return next((c for c in candidates if c.is_file()), candidates[0])
