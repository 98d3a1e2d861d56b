"""Reading and writing the project's files: text, JSON, JSON lines and YAML in, atomic writes out.

Every reader raises a one-line SbtError naming the file (and line) when it is missing,
undecodable or malformed, so callers in any layer never show a library's traceback; a
full disk, a read-only folder or a file where a folder should be is one line too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from sbt_bench.core.errors import SbtError, first_line


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


def read_json(path: Path) -> Any:
    """Parse a JSON file (a leading BOM dropped), with a one-line error naming the file."""
    return parse_json(read_text(path, encoding="utf-8-sig"), str(path))


def read_json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(position, object) pairs from a JSON array or a JSON-lines file.

    Positions are 1-based line numbers for JSON lines and item numbers for an array.
    """
    text = read_text(path, encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        numbered = list(enumerate(parse_json(text, str(path))))
    else:
        numbered = []
        # Only "\n" ends a JSON line: str.splitlines would also split at U+2028 and other
        # separators that JSON allows inside strings.
        for line_no, line in enumerate(text.split("\n"), 1):
            if line.strip():
                numbered.append((line_no, parse_json(line, f"{path}:{line_no}")))
    for position, item in numbered:
        if not isinstance(item, dict):
            raise SbtError(f"{path}:{position}: expected a JSON object")
    return numbered


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, with a one-line error naming the file when it is malformed."""
    try:
        data = yaml.safe_load(read_text(path, encoding="utf-8-sig"))
    except yaml.YAMLError as err:
        raise SbtError(f"{path}: cannot read YAML ({first_line(err)})") from None
    if not isinstance(data, dict):
        raise SbtError(f"{path}: expected a mapping at the top level")
    return data


def find_bundled_dir(name: str) -> Path:
    """A YAML folder shipped with sbt-bench (`tasks`, `leaderboards`).

    A wheel carries it inside the package as `_<name>`; a source checkout has it at the
    repository root.
    """
    package = Path(__file__).resolve().parents[1]  # sbt_bench/, this module being in core/
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    raise SbtError(f"no {name}/ folder found next to {package}; reinstall sbt-bench")


OUTPUT_FIX = "use --output-dir elsewhere"
"""The way out of a storage failure in a results folder (other writers name their own)."""
_IN_THE_WAY = "cannot write {path}: a regular file is in the way of a folder; move that file or "
_HINTS = {
    errno.ENOSPC: "no space left on device writing {path}; free space or ",
    errno.EDQUOT: "disk quota exceeded writing {path}; free space or ",
    errno.EROFS: "read-only file system writing {path}; ",
    errno.EACCES: "permission denied writing {path}; fix its permissions or ",
    errno.EPERM: "permission denied writing {path}; fix its permissions or ",
    errno.ENOTDIR: _IN_THE_WAY,
    errno.EEXIST: _IN_THE_WAY,
    errno.EISDIR: "cannot write {path}: it is a folder; ",
}


def storage_error(err: OSError, path: Path, fix: str = OUTPUT_FIX) -> SbtError:
    """The one-line error for a failed write of `path`: what happened and what to do.

    Example:
        >>> str(storage_error(OSError(28, "No space left on device"), Path("r/results.json")))
        'no space left on device writing r/results.json; free space or use --output-dir elsewhere'
    """
    hint = _HINTS.get(err.errno or 0)
    if hint is None:
        return SbtError(f"cannot write {path}: {first_line(err)}; check the disk or {fix}")
    return SbtError(hint.format(path=path) + fix)


def make_folder(path: Path, fix: str = OUTPUT_FIX) -> Path:
    """Create `path` and its parents (a storage failure becomes one line); returns `path`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise storage_error(err, path, fix) from None
    return path


def write_atomic(path: Path, data: str | bytes, fix: str = OUTPUT_FIX) -> None:
    """Write via a temporary file in the same folder, fsync, then rename into place.

    The temporary name is unique, so threads and processes writing the same path race
    harmlessly: the last rename wins and every version is whole. The file is created with
    mode 0666 so the user's umask applies, as for any other output (mkstemp's 0600 would
    lock other users of a shared results folder out). A storage failure is an SbtError
    naming `path` and `fix`.
    """
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as err:
        _discard(tmp)
        raise storage_error(err, path, fix) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    """Remove a temporary file if it was made (its folder may not even exist)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def claim_output_folder(path: Path, flag: str, *, overwrite: bool, keep: bool = False) -> Path:
    """Check that a writer may fill the folder `path`, before any model loads.

    A folder holding anything but hidden files is another run's output: refused unless
    `overwrite` (the writer then replaces it) or `keep` (the writer resumes it).

    Raises:
        SbtError: `path` is a file, or a used folder without `overwrite`/`keep`, naming `flag`.
    """
    if path.exists() and not path.is_dir():
        raise SbtError(f"{flag} {path} is a file, not a folder; give a folder path to {flag}")
    if keep or overwrite or not path.is_dir():
        return path
    try:
        used = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise SbtError(f"{flag} {path}: cannot list it ({first_line(err)}); check it") from None
    if used:
        raise SbtError(
            f"{flag} {path} already holds another run's output ({', '.join(used[:3])}); "
            f"pass --overwrite to replace it, or give {flag} a new folder"
        )
    return path


def claim_output_file(path: Path, flag: str, *, overwrite: bool) -> Path:
    """Check that a writer may write the file `path` (one line naming `flag` if not).

    Raises:
        SbtError: `path` is a folder, or an existing file without `overwrite`.
    """
    if path.is_dir():
        raise SbtError(f"{flag} {path} is a folder, not a file; give a file path to {flag}")
    if path.exists() and not overwrite:
        raise SbtError(
            f"{flag} {path} already exists; pass --overwrite to replace it, or give {flag} "
            "another file"
        )
    return path
