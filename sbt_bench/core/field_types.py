"""Values a user wrote in a YAML file, checked against the record field they fill.

Every record here is a frozen dataclass with annotated fields; pydantic checks each given
value against its field's annotation, so a string where a list belongs (`choices: "a,b"`
would become the choices "a", ",", "b"), a float where an int belongs, a NaN, a word where
a boolean belongs (`apply_chat_template: "no"` is a true string) or a value outside a
`Literal` is one line naming the file, the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from sbt_bench.core.errors import SbtError

# Lax enough for YAML (a list fills a tuple, 2 fills a float), strict where lax would
# guess: no word for a boolean, no NaN or infinity, no number for a string.
_CONFIG = ConfigDict(allow_inf_nan=False)


def check_field_values(cls: Any, data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """`data` with each value converted to its field's type (list -> tuple), or one line.

    Keys that are not fields of `cls` are passed through (the caller reports them).

    Raises:
        SbtError: `source: field 'key': <what pydantic wants> (got <value>)`.
    """
    hints = _hints(cls)
    out = dict(data)
    for key, value in data.items():
        hint = hints.get(key)
        if hint is None or dataclasses.is_dataclass(value):
            continue
        if isinstance(value, str) and _wants_bool(hint):
            raise SbtError(
                f"{source}: field {key!r} is the string {value!r}; write true or false (no quotes)"
            )
        if isinstance(value, bool) and not _wants_bool(hint) and hint is not Any:
            # pydantic's lax mode would read `true` as 1 where a number belongs.
            raise SbtError(f"{source}: field {key!r} is the boolean {value!r}; give a number")
        try:
            out[key] = _adapter(hint).validate_python(value)
        except ValidationError as err:
            first = err.errors()[0]
            message = str(first["msg"]).removeprefix("Value error, ")
            message = message.replace("a valid tuple", "a list").replace("dictionary", "mapping")
            raise SbtError(f"{source}: field {key!r}: {message} (got {value!r})") from None
    return out


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    if dataclasses.is_dataclass(hint):
        return TypeAdapter(hint)  # a nested record: its own fields are checked when built
    return TypeAdapter(hint, config=_CONFIG)


def _wants_bool(hint: Any) -> bool:
    return hint is bool or bool in typing.get_args(hint)
