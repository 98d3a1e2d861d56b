"""User task folders (`--include-path DIR`, `$SBT_TASKS_PATH`): YAMLs beside the bundled ones.

A user YAML has the bundled schema. `include:` takes a path relative to the YAML, or
`sbt:<path>` relative to the bundled `tasks/` folder (`include: sbt:pope/_pope_base.yaml`).
A reader, processor or scorer may be `module:function` from a Python file in the folder
(`module` is `<folder>/<module>.py`, dots for subfolders); nothing outside it is imported.
A `local_file` starting with `./` lies beside the YAML instead of under `--data-dir`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.files import find_bundled_dir
from sbt_bench.core.registry import Registry
from sbt_bench.metrics import GENERATION_SCORERS, ItemScorer
from sbt_bench.tasks.catalog import TaskCatalog
from sbt_bench.tasks.loader import resolve_includes
from sbt_bench.tasks.processors import PROCESSORS
from sbt_bench.tasks.readers import READERS
from sbt_bench.tasks.spec import TaskSpec, build_group_spec, build_task_spec

TASKS_PATH_ENV = "SBT_TASKS_PATH"
BUNDLED_PREFIX = "sbt:"


def include_dirs(flags: Sequence[str] | None) -> list[Path]:
    """`--include-path` folders, then `$SBT_TASKS_PATH`'s (os.pathsep-separated), each once."""
    env = [p for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p]
    folders: list[Path] = []
    for text in [*(flags or ()), *env]:
        folder = Path(text).expanduser().resolve()
        if not folder.is_dir():
            raise SbtError(f"--include-path {text}: not a folder of task YAMLs")
        if folder not in folders:
            folders.append(folder)
    return folders


def register_user_tasks(folders: Sequence[Path], catalog: TaskCatalog) -> list[str]:
    """Register every task and group YAML of `folders` in `catalog`; the task names added.

    Registering the same files again is a no-op, so a catalog may be given a folder twice.
    """
    added = []
    for folder in folders:
        for path in sorted(folder.rglob("*.yaml")):
            if path.name.startswith("_"):
                continue
            data = resolve_includes(path, resolve=_resolve_include)
            name = str(data.get("group" if "group" in data else "task", path.stem))
            if "group" in data:
                group = build_group_spec(data, str(path))
                if _registered_before(name, catalog, catalog.groups, group):
                    continue
                _refuse_clash(name, path, catalog)
                catalog.groups.register(name, group)
            else:
                spec = _with_user_hooks(build_task_spec(data, str(path)), folder, path)
                if _registered_before(name, catalog, catalog.tasks, spec):
                    continue
                _refuse_clash(name, path, catalog)
                if spec.task != path.stem:
                    raise SbtError(f"{path}: task name {spec.task!r} must match the file name")
                catalog.tasks.register(spec.task, spec)
                added.append(spec.task)
            if name not in catalog.user_files:
                catalog.user_files.register(name, str(path))
    return added


def user_catalog(flags: Sequence[str] | None, base: TaskCatalog) -> TaskCatalog:
    """`base` with the user task folders of `--include-path` and `$SBT_TASKS_PATH`.

    The user tasks go into an overlay that lives as long as the run holding it: `base` is
    left as it was (`base` itself when there is no folder).
    """
    folders = include_dirs(flags)
    if not folders:
        return base
    catalog = base.with_overlay()
    register_user_tasks(folders, catalog)
    return catalog


def _registered_before(
    name: str, catalog: TaskCatalog, registry: Registry[Any], value: object
) -> bool:
    """Whether a user task was registered before with the same content: not a clash.

    Its hook and data paths are absolute, so only the same file gives the same spec.
    """
    return name in catalog.user_files and name in registry and registry.get(name) == value


def _resolve_include(base: Path, include: str) -> Path:
    """`sbt:<path>` names a bundled fragment; anything else is relative to the including file."""
    if include.startswith(BUNDLED_PREFIX):
        return find_bundled_dir("tasks") / include.removeprefix(BUNDLED_PREFIX)
    return base.parent / include


def _refuse_clash(name: str, path: Path, catalog: TaskCatalog) -> None:
    if name not in catalog.tasks and name not in catalog.groups:
        return
    files = catalog.user_files
    other = files.get(name) if name in files else _bundled_file(name)
    raise SbtError(
        f"{path}: task {name!r} is already defined by {other}; rename the task and its file"
    )


def _bundled_file(name: str) -> str:
    root = find_bundled_dir("tasks")
    found = sorted(root.rglob(f"{name}.yaml"))
    return str(found[0]) if found else f"a bundled YAML under {root}"


def _with_user_hooks(spec: TaskSpec, folder: Path, path: Path) -> TaskSpec:
    """The spec with each `module:function` hook imported and registered under its file."""
    dataset = spec.dataset
    if dataset.local_file.startswith("./"):  # beside the YAML rather than under --data-dir
        dataset = replace(dataset, local_file=str((path.parent / dataset.local_file).resolve()))
    reader = _hook(dataset.reader, READERS, folder, path)
    process = _hook(dataset.process, PROCESSORS, folder, path) if dataset.process else None
    spec = replace(spec, dataset=replace(dataset, reader=reader, process=process))
    if spec.generation is None:
        return spec
    outputs = spec.generation.metrics
    scorer = _hook(
        spec.generation.scorer, GENERATION_SCORERS, folder, path, lambda f: ItemScorer(f, outputs)
    )
    return replace(spec, generation=replace(spec.generation, scorer=scorer))


def _hook(
    name: str,
    registry: Registry[Any],
    folder: Path,
    path: Path,
    wrap: Callable[[Callable[..., Any]], Any] = lambda function: function,
) -> str:
    """A registered name as it is, or a user `module:function` registered as `<file>:function`.

    `wrap` makes the registry's entry from the function (a scorer with its outputs).
    """
    if ":" not in name:
        return name
    module, _, function = name.partition(":")
    file = (folder / Path(*module.split("."))).with_suffix(".py").resolve()
    if not file.is_relative_to(folder) or not file.is_file():
        raise SbtError(
            f"{path}: {registry.kind} {name!r}: no file {module.replace('.', '/')}.py inside "
            f"{folder}; user hooks must live in the include folder"
        )
    key = f"{file}:{function}"
    if key not in registry:
        registry.register(key, wrap(_import_function(file, function, path, registry.kind)))
    return key


def _import_function(file: Path, function: str, path: Path, kind: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location(f"sbt_user_tasks.{file.stem}", file)
    if spec is None or spec.loader is None:
        raise SbtError(f"{path}: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's code: any failure gets one line
        raise SbtError(f"{path}: importing {file} failed ({first_line(err)})") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise SbtError(
            f"{path}: {kind} {file.stem}:{function}: {file} has no function {function!r}"
        )

    @functools.wraps(found)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return found(*args, **kwargs)
        except SbtError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's code: its error is one line
            raise SbtError(f"{file}:{function} failed: {first_line(err)}") from None

    return call
