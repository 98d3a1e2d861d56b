"""Checked settings: a pydantic ValidationError becomes one SbtError line.

The line names where the value came from (a flag, a keyword, a file and its field), what
is wrong, what is allowed, and the value given; never pydantic's multi-line report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from sbt_bench.core.errors import SbtError, suggest

_VALUE_ERROR = "Value error, "


def one_line_error(
    err: ValidationError, label: Callable[[str], str], allowed: Iterable[str] = ()
) -> SbtError:
    """The first error of `err` as one line: `<label(field)>: <what is wrong>, got <value>`.

    `label` names a field where the user wrote it (`--max-batch-tokens`, `evaluate(seed=)`,
    `model.yaml: batch_size`); `allowed` lists the names accepted, for an unknown one.

    Example:
        >>> from pydantic import BaseModel, ConfigDict
        >>> class Settings(BaseModel):
        ...     model_config = ConfigDict(extra="forbid")
        ...     seed: int = 0
        >>> try:
        ...     Settings(sed=1)
        ... except ValidationError as err:
        ...     print(one_line_error(err, lambda f: f"--{f}", ["seed"]))
        --sed: unknown name. Did you mean 'seed'? Allowed: seed
    """
    first = err.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"] if not isinstance(part, int))
    where = label(field.split(".")[0]) + field[len(field.split(".")[0]) :]
    if first["type"] == "extra_forbidden":
        names = sorted(allowed)
        hint = suggest(field, names)
        return SbtError(f"{where}: unknown name.{hint} Allowed: {', '.join(names)}")
    message = str(first["msg"])
    if message.startswith(_VALUE_ERROR):  # our own validators: the message says it all
        return SbtError(f"{where}: {message.removeprefix(_VALUE_ERROR)}")
    return SbtError(f"{where}: {_lower_first(message)}, got {_shown(first.get('input'))}")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _shown(value: Any) -> str:
    """The given value as the user would recognise it (short, with its type visible)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004 - one line
