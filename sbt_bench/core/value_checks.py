"""Type and range checks of a model spec's values (the prompt format is checked by its backend).

A model YAML gives whatever YAML parses (`batch_size: "sixteen"`, `concurrency: [1, 2]`); a
dataclass does not check its annotations, so a wrong value would otherwise be stored in
results.json or fail deep inside a backend.
"""

from __future__ import annotations

import types
from dataclasses import fields
from typing import Any, get_args, get_type_hints

from sbt_bench.core.errors import SbtError

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
# Fields whose value must be above zero, or at least zero.
_POSITIVE = (
    "batch_size",
    "concurrency",
    "timeout",
    "image_max_size",
    "requests_per_minute",
    "tokens_per_minute",
)
_NOT_NEGATIVE = ("max_retries", "price_prompt_per_1m", "price_completion_per_1m")


def check_model_values(spec: Any) -> None:
    """Raise a one-line SbtError naming the first field of `spec` with a wrong type or range.

    `spec` is a ModelSpec (passed untyped: types.py, which defines it, calls this).
    """
    hints = get_type_hints(type(spec))
    for field in fields(spec):
        value = getattr(spec, field.name)
        allowed = _allowed_types(hints[field.name])
        if not any(_is_instance(value, kind) for kind in allowed):
            wanted = " or ".join(_TYPE_NAMES.get(k, "null") for k in allowed)
            raise SbtError(f"model {spec.name!r}: {field.name} must be {wanted}, got {value!r}")
        if value is None or isinstance(value, (bool, str)):
            continue
        if field.name in _POSITIVE and value <= 0:
            raise SbtError(f"model {spec.name!r}: {field.name} must be above 0, got {value!r}")
        if field.name in _NOT_NEGATIVE and value < 0:
            raise SbtError(f"model {spec.name!r}: {field.name} must be 0 or more, got {value!r}")


def _allowed_types(hint: Any) -> tuple[type, ...]:
    """`int | None` -> (int, NoneType); a plain type -> (type,)."""
    return get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def _is_instance(value: Any, kind: type) -> bool:
    # YAML's true is an int to Python, and an integer is a fine float.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)
