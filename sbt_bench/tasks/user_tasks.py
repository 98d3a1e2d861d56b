"""User task folders (`--include-path DIR`, `$SBT_TASKS_PATH`): YAMLs beside the bundled ones.

A user YAML has the bundled schema. `include:` takes a path relative to the YAML, or
`sbt:<path>` relative to the bundled `tasks/` folder (`include: sbt:pope/_pope_base.yaml`).
A reader, processor or scorer may be `module:function` from a Python file in the folder
(`module` is `<folder>/<module>.py`, dots for subfolders); nothing outside it is imported.
It is registered in the catalog's hooks (an overlay of the run), never in the global ones;
so are the metric directions its module declares (`declare_metrics`, while it imports).
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
from sbt_bench.metrics import ItemScorer
from sbt_bench.metrics.directions import MetricDirections, declaring_into
from sbt_bench.tasks.catalog import TaskCatalog
from sbt_bench.tasks.hooks import BUNDLED_HOOKS, TaskHooks
from sbt_bench.tasks.loader import resolve_includes
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
    if catalog.hooks is BUNDLED_HOOKS:  # the user's functions would outlive the run
        raise ValueError("user tasks need a catalog whose hooks are an overlay (with_overlay)")
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
                spec = build_task_spec(data, str(path))
                spec = _with_user_hooks(spec, catalog.hooks, folder, path)
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


def _with_user_hooks(spec: TaskSpec, hooks: TaskHooks, folder: Path, path: Path) -> TaskSpec:
    """The spec with each `module:function` hook imported and registered in `hooks`."""
    dataset = spec.dataset
    if dataset.local_file.startswith("./"):  # beside the YAML rather than under --data-dir
        dataset = replace(dataset, local_file=str((path.parent / dataset.local_file).resolve()))
    directions = hooks.directions
    reader = _hook(dataset.reader, hooks.readers, directions, folder, path)
    process = (
        _hook(dataset.process, hooks.processors, directions, folder, path)
        if dataset.process
        else None
    )
    spec = replace(spec, dataset=replace(dataset, reader=reader, process=process))
    if spec.generation is None:
        return spec
    outputs = spec.generation.metrics
    scorer = _hook(
        spec.generation.scorer,
        hooks.scorers,
        directions,
        folder,
        path,
        lambda f: ItemScorer(f, outputs),
    )
    if scorer != spec.generation.scorer:  # a user hook: its module declares the directions
        _check_directions(outputs, directions, spec.generation.scorer, path)
    return replace(spec, generation=replace(spec.generation, scorer=scorer))


def _check_directions(
    outputs: tuple[str, ...], directions: MetricDirections, hook: str, path: Path
) -> None:
    """Every metric a user scorer reports was declared with its direction (in the run's)."""
    for name in outputs:
        if name not in directions:
            module = hook.partition(":")[0].replace(".", "/")
            raise SbtError(
                f"{path}: metric {name!r} of scorer {hook!r} declares no direction; add "
                f"declare_metrics({{{name!r}: True}}) to {module}.py (from sbt_bench.metrics; "
                "True: higher is better, False: lower, None: neither)"
            )


def _hook(  # noqa: PLR0917 - private; each call names what it registers where
    name: str,
    registry: Registry[Any],
    directions: MetricDirections,
    folder: Path,
    path: Path,
    wrap: Callable[[Callable[..., Any]], Any] = lambda function: function,
) -> str:
    """A registered name as it is, or a user `module:function` registered as `<file>:function`.

    `wrap` makes the registry's entry from the function (a scorer with its outputs); the
    metrics its module declares go into `directions`, the run's.
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
        with declaring_into(directions):
            found = _import_function(file, function, path, registry.kind)
        registry.register(key, wrap(found))
    return key


def _import_function(file: Path, function: str, path: Path, kind: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location(f"sbt_user_tasks.{file.stem}", file)
    if spec is None or spec.loader is None:
        raise SbtError(f"{path}: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    try:
        # Compiled from the source each time, not through __pycache__: a file edited between
        # two runs within one second at the same size would otherwise run its old code.
        exec(compile(file.read_bytes(), str(file), "exec"), module.__dict__)  # noqa: S102
    except Exception as err:  # noqa: BLE001 - the user's code: any failure gets one line
        # A clash of declared directions lands here too: with the file, it is one line.
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
