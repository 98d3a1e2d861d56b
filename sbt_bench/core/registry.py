"""A generic, lazily importing, duplicate-rejecting registry: the only module-level state.

A registry may be filled on first use (`fill`), so that importing the module that holds it
reads no file, and may lie over a `parent` (`overlay`): a run's user tasks go into an
overlay of the bundled tasks and vanish with the run, never touching the parent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import reduce
from typing import Generic, TypeVar, cast

from sbt_bench.core.errors import SbtError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; a string value "module:attr" is imported on first use."""

    def __init__(
        self,
        kind: str,
        *,
        fill: Callable[[Registry[T]], None] | None = None,
        parent: Registry[T] | None = None,
    ) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._fill = fill
        self._parent = parent

    def overlay(self) -> Registry[T]:
        """An empty registry over this one: it answers with both, adds only to itself."""
        return Registry(self.kind, parent=self)

    def _filled(self) -> dict[str, T | str]:
        """The own entries, filling them first if this is the first use."""
        if self._fill is not None:
            fill, self._fill = self._fill, None  # before the call: filling registers entries
            fill(self)
        return self._entries

    def register(self, name: str, obj: T | str) -> None:
        """Add `obj` under `name`; registering a name twice is a programming error."""
        if name in self:
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
        entries = self._filled()
        if name not in entries and self._parent is not None and name in self._parent:
            return self._parent.get(name)
        if name not in entries:
            raise SbtError(f"unknown {self.kind} {name!r}.{suggest(name, self.names())}")
        entry = entries[name]
        if isinstance(entry, str) and ":" in entry:
            module, attr = entry.split(":", 1)
            # A dotted attribute ("Class.from_spec") names a member of a module-level object.
            resolved = cast("T", reduce(getattr, attr.split("."), importlib.import_module(module)))
            entries[name] = resolved
            return resolved
        return cast("T", entry)

    def names(self) -> list[str]:
        """Return the registered names (the parent's too), sorted."""
        inherited = self._parent.names() if self._parent is not None else []
        return sorted({*inherited, *self._filled()})

    def __contains__(self, name: object) -> bool:
        if name in self._filled():
            return True
        return self._parent is not None and name in self._parent
