"""A generic, lazily importing, duplicate-rejecting registry: the only module-level state."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import reduce
from typing import Generic, TypeVar, cast

from sbt_bench.core.errors import SbtError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; a string value "module:attr" is imported on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str) -> None:
        """Add `obj` under `name`; registering a name twice is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def __call__(self, name: str) -> Callable[[T], T]:
        """Decorator form of `register`."""

        def decorate(obj: T) -> T:
            self.register(name, obj)
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Return the entry, importing it if lazy; unknown names raise with a did-you-mean."""
        if name not in self._entries:
            raise SbtError(f"unknown {self.kind} {name!r}.{suggest(name, self._entries)}")
        entry = self._entries[name]
        if isinstance(entry, str) and ":" in entry:
            module, attr = entry.split(":", 1)
            # A dotted attribute ("Class.from_spec") names a member of a module-level object.
            resolved = cast("T", reduce(getattr, attr.split("."), importlib.import_module(module)))
            self._entries[name] = resolved
            return resolved
        return cast("T", entry)

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
