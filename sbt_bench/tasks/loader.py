"""Discover task and group YAMLs, resolve `include:`, and register them by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_yaml
from sbt_bench.core.registry import Registry
from sbt_bench.tasks.spec import GroupSpec, TaskSpec, build_group_spec, build_task_spec


def resolve_includes(
    path: Path,
    seen: tuple[Path, ...] = (),
    resolve: Callable[[Path, str], Path] = lambda base, include: base.parent / include,
) -> dict[str, Any]:
    """Load `path`, deep-merging it over the files it `include:`s.

    `resolve(including file, include)` locates an include (by default relative to the file).
    """
    if path in seen:
        raise SbtError(f"{path}: include cycle through {[str(p) for p in seen]}")
    data = read_yaml(path)
    include = data.pop("include", None)
    if include is None:
        return data
    base = resolve_includes(resolve(path, str(include)), (*seen, path), resolve)
    return _deep_merge(base, data)


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def register_all(root: Path, tasks: Registry[TaskSpec], groups: Registry[GroupSpec]) -> None:
    """Register every YAML under `root`; files starting with `_` are include-only fragments."""
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("_"):
            continue
        data = resolve_includes(path)
        source = str(path.relative_to(root.parent))
        if "group" in data:
            group = build_group_spec(data, source)
            groups.register(group.group, group)
        else:
            spec = build_task_spec(data, source)
            if spec.task != path.stem:
                raise SbtError(f"{source}: task name {spec.task!r} must match the file name")
            tasks.register(spec.task, spec)
