"""Atomic file writes (a reader or a rerun never sees half a file) and checked text reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sbt_bench.errors import SbtError, first_line


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder, fsync, then rename into place.

    The temporary name is unique, so threads and processes writing the same path race
    harmlessly: the last rename wins and every version is whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A text file's contents, or a one-line SbtError naming the file and the offending byte.

    Benchmark files edited on another system often arrive as Latin-1 or UTF-16; the decoder's
    own message gives no file name, so it would surface as a traceback.
    """
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        byte = err.object[err.start : err.start + 1]
        raise SbtError(
            f"{path}: not UTF-8 text (byte {byte!r} at offset {err.start}); "
            "re-save the file as UTF-8"
        ) from None
    except OSError as err:
        raise SbtError(f"{path}: cannot read ({first_line(err)}); check the path") from None


def parse_json(text: str, where: str) -> Any:
    """One JSON value, or a one-line SbtError starting with `where` (a file, or file:line).

    Besides syntax errors, Python's parser refuses integers of over 4300 digits (ValueError)
    and nesting deeper than its recursion limit (RecursionError).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SbtError(f"{where}: malformed JSON at line {err.lineno} ({err.msg})") from None
    except (ValueError, RecursionError) as err:
        raise SbtError(f"{where}: unreadable JSON ({first_line(err)})") from None
