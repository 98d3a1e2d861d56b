"""`from_pretrained` with load failures as one line (no sbt_bench model loaders involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError, first_line


def load_pretrained(loader: Any, path: Path | str, what: str) -> Any:
    """`loader(path)`, with load failures as one line naming what and where."""
    try:
        return loader(str(path))
    except (OSError, ValueError) as err:
        raise SbtError(f"cannot load the {what} from {path} ({first_line(err, 200)})") from None
