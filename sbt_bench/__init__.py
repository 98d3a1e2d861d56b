"""SBT-Bench: does training make (multi-modal) LLMs more truthful and ethical?

`evaluate` and `load_results` are imported on first use, so `import sbt_bench` stays cheap
(no torch, no transformers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sbt_bench._version import __version__

if TYPE_CHECKING:
    from sbt_bench.api import (
        GroupResult,
        GroupResults,
        ModelResults,
        RunResults,
        TaskResult,
        TaskResults,
        evaluate,
        load_results,
    )


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        return getattr(importlib.import_module("sbt_bench.api"), name)
    raise AttributeError(f"module 'sbt_bench' has no attribute {name!r}")


__all__ = [
    "GroupResult",
    "GroupResults",
    "ModelResults",
    "RunResults",
    "TaskResult",
    "TaskResults",
    "__version__",
    "evaluate",
    "load_results",
]
