"""Discover task and group YAMLs, resolve `include:`, and register them by name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sbt_bench.errors import SbtError
from sbt_bench.registry import Registry
from sbt_bench.tasks.spec import GroupSpec, TaskSpec, build_group_spec, build_task_spec


def find_bundled_dir(name: str) -> Path:
    """A YAML folder shipped with sbt-bench (`tasks`, `leaderboards`).

    A wheel carries it inside the package as `_<name>`; a source checkout has it at the
    repository root.
    """
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    raise SbtError(f"no {name}/ folder found next to {package}; reinstall sbt-bench")


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, with a one-line error naming the file when it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise SbtError(f"{path}: cannot read YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SbtError(f"{path}: expected a mapping at the top level")
    return data


def resolve_includes(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load `path`, deep-merging it over the files it `include:`s (paths relative to it)."""
    if path in seen:
        raise SbtError(f"{path}: include cycle through {[str(p) for p in seen]}")
    data = load_yaml(path)
    include = data.pop("include", None)
    if include is None:
        return data
    base = resolve_includes(path.parent / str(include), (*seen, path))
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
