"""User-facing errors: one line that names the file, item or flag and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class SbtError(Exception):
    """A user-input or environment error, printed as one line without a traceback."""


def suggest(name: str, options: Iterable[str]) -> str:
    """Return a ' Did you mean ...?' hint for a misspelt name, or '' when nothing is close.

    Example:
        >>> suggest("truthfulqa_mc3", ["truthfulqa_mc1", "ethics_cm"])
        " Did you mean 'truthfulqa_mc1'?"
    """
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def first_line(err: BaseException, limit: int = 300) -> str:
    r"""The first line of a library's error message (its type name when it has none).

    Library errors often span pages; a one-line SbtError quotes only their first line.

    Example:
        >>> first_line(OSError("no such file\nTraceback ..."))
        'no such file'
    """
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:limit]


def missing_image(path: Path) -> SbtError:
    """The one-line error for an image file that is not where the task looks for it."""
    return SbtError(
        f"image {path.name} not found in {path.parent}; check --data-dir or pass "
        "--skip-missing-images"
    )
