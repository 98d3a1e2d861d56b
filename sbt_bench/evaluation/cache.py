"""A crash-safe, checked on-disk response cache, keyed by model identity and request.

Every response is committed as soon as it arrives (SQLite in WAL mode), so a killed run
loses nothing it finished, and a rerun with any number of processes finds it: the key
holds no rank or world size, unlike lm-eval's per-rank cache.

SQLite's own integrity check cannot see a flipped digit inside a value, so each row
carries a checksum of its key and value: a row that fails it is dropped, recomputed and
counted in the run's results (`timing.cache`). A file SQLite cannot read at all is moved
aside as `cache.sqlite.corrupt-<UTC time>` with one warning, and the run recomputes.

Caches written before checksums existed are migrated in place (a `checksum` column is
added): their old rows are still used, since dropping them would pay every API request
again, but they are counted as unverified and each run says so in one warning line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import Self

from sbt_bench.core.errors import SbtError
from sbt_bench.core.faults import kill_point
from sbt_bench.core.files import make_folder
from sbt_bench.core.types import Request, Response

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 64
"""Puts between passive WAL checkpoints, so the log stays near the size of one batch."""
_WAL_AUTOCHECKPOINT_PAGES = 256
_JOURNAL_SIZE_LIMIT = 1 << 20
"""Bytes a checkpointed WAL file is cut back to (SQLite otherwise keeps its high-water mark)."""

# SQLite's primary result codes for a file it cannot read as a database, and a full disk.
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL_CODE = 13  # SQLITE_FULL
_CORRUPT_WORDS = ("malformed", "not a database")
_NEARLY_FULL_BYTES = 1 << 20


@dataclass(frozen=True)
class CacheHealth:
    """What a run found wrong with its cache (reported in results.json, `timing.cache`)."""

    corrupt_rows_dropped: int = 0
    unverified_legacy_rows: int = 0
    moved_aside: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The `timing.cache` entry; the moved-aside file only when there was one."""
        entry: dict[str, Any] = asdict(self)
        if self.moved_aside is None:
            del entry["moved_aside"]
        return entry


def checksum(key: str, value: str) -> str:
    """The checksum stored beside a row: covers the key too, so a row cannot move."""
    return hashlib.sha256(f"{key}\n{value}".encode()).hexdigest()[:32]


_QUICK_LOCK_S = 0.5
"""How long an open first waits on a lock before saying who holds it."""
_LOCK_WAIT_S = 60
_BUSY_CODE = 5  # SQLITE_BUSY


class ResponseCache:
    """Responses of one model (its fingerprint) to requests, persisted in a SQLite file."""

    def __init__(self, path: Path, model_fingerprint: str, *, wait: bool = True) -> None:
        make_folder(path.parent)
        self._wait = wait
        self.path = path
        self.model_fingerprint = model_fingerprint
        self._dropped = 0
        self._legacy = 0
        self._moved_aside: Path | None = None
        self._puts = 0
        try:
            self._db = self._open_waiting()
        except sqlite3.DatabaseError as err:
            self._db = self._recover(err)

    @property
    def health(self) -> CacheHealth:
        """Rows dropped for a bad checksum, legacy rows used unverified, a moved-aside file."""
        moved = None if self._moved_aside is None else self._moved_aside.name
        return CacheHealth(self._dropped, self._legacy, moved)

    def key(self, request: Request) -> str:
        """The cache key of `request` for this model."""
        return hashlib.sha256(f"{self.model_fingerprint}:{request.key()}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        """The cached responses among `keys` whose checksum holds (bad rows are dropped)."""
        try:
            return self._read(list(dict.fromkeys(keys)))
        except sqlite3.DatabaseError as err:
            self._db = self._recover(err)
            return {}

    def put(self, key: str, response: Response) -> None:
        """Store and commit one response (checkpointing the WAL every few puts)."""
        value = json.dumps(asdict(response))
        try:
            self._insert(key, value)
        except sqlite3.DatabaseError as err:
            self._db = self._recover(err)
            self._insert(key, value)
        self._puts += 1
        kill_point("cache-put", self._puts)

    def close(self) -> None:
        """Checkpoint the WAL into the database and close it."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as err:
            # Another process still reading holds the log; it checkpoints on its close.
            log.debug("%s: final checkpoint skipped (%s)", self.path, err)
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open_waiting(self) -> sqlite3.Connection:
        """Open the cache; if another process holds it locked, say who and wait for it."""
        try:
            return self._open(timeout=_QUICK_LOCK_S)
        except sqlite3.OperationalError as err:
            if _code(err) != _BUSY_CODE and "locked" not in str(err):
                raise
        if not self._wait:
            raise SbtError(
                f"the response cache {self.path} is locked by {lock_holder(self.path)} "
                "(--no-wait); stop that process or wait for it, or give this run another "
                "--output-dir"
            )
        log.warning(
            "%s is locked by %s; waiting up to %d s for it (stop that process, or give this "
            "run another --output-dir; --no-wait fails at once)",
            self.path,
            lock_holder(self.path),
            _LOCK_WAIT_S,
        )
        try:
            return self._open(timeout=_LOCK_WAIT_S)
        except sqlite3.OperationalError as err:
            if _code(err) != _BUSY_CODE and "locked" not in str(err):
                raise
            raise SbtError(
                f"the response cache {self.path} is still locked by {lock_holder(self.path)} "
                f"after {_LOCK_WAIT_S} s; stop that process or wait for it, or give this run "
                "another --output-dir"
            ) from None

    def _open(self, timeout: float = _LOCK_WAIT_S) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=timeout)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={_JOURNAL_SIZE_LIMIT}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses "
                "(key TEXT PRIMARY KEY, value TEXT, checksum TEXT)"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
            if "checksum" not in columns:  # a cache from before checksums: migrate in place
                db.execute("ALTER TABLE responses ADD COLUMN checksum TEXT")
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _read(self, unique: list[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        bad: list[str] = []
        legacy = 0
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, value, checksum FROM responses WHERE key IN ({marks})"  # noqa: S608 - only '?' marks
            for key, value, stored in self._db.execute(query, chunk):
                if stored is not None and stored != checksum(key, value):
                    bad.append(key)
                    continue
                response = _parse(value)
                if response is None:
                    bad.append(key)
                    continue
                legacy += stored is None
                found[key] = response
        if bad:
            self._db.executemany("DELETE FROM responses WHERE key = ?", [(k,) for k in bad])
            self._db.commit()
            self._dropped += len(bad)
            log.warning(
                "%s: %d cached responses failed their checksum; dropped, they are recomputed",
                self.path,
                len(bad),
            )
        if legacy:
            self._legacy += legacy
            log.warning(
                "%s: %d cached responses predate checksums and are used unverified; "
                "delete the file to recompute them",
                self.path,
                legacy,
            )
        return found

    def _insert(self, key: str, value: str) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, value, checksum) VALUES (?, ?, ?)",
                (key, value, checksum(key, value)),
            )
            self._db.commit()
            if (self._puts + 1) % CHECKPOINT_EVERY == 0:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError as err:
            raise _storage_error(err, self.path) from None

    def _recover(self, err: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move an unreadable cache aside (once) and start a fresh one; other errors: one line."""
        if not _is_corrupt(err) or self._moved_aside is not None:
            raise _storage_error(err, self.path) from None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        if hasattr(self, "_db"):  # absent when the file failed to open at all
            self._db.close()
        try:
            self.path.replace(aside)
            # The log belongs to the bad file; the shared-memory index is rebuilt from it.
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if suffix == "-wal" and side.exists():
                    side.replace(aside.with_name(aside.name + suffix))
                side.unlink(missing_ok=True)
        except OSError as move_err:
            raise SbtError(
                f"{self.path} is corrupt ({err}) and cannot be moved aside ({move_err}); "
                "delete it and rerun"
            ) from None
        log.warning("%s is corrupt (%s); moved aside to %s, recomputing", self.path, err, aside)
        self._moved_aside = aside
        try:
            return self._open()
        except sqlite3.DatabaseError as again:
            raise _storage_error(again, self.path) from None


def lock_holder(path: Path) -> str:
    """Who holds a POSIX lock on `path` ("process 123 (python3 ...)"), from /proc/locks."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "another process"
    for line in lines:
        parts = line.split()
        if len(parts) > 5 and parts[5].rsplit(":", 1)[-1] == str(inode) and parts[4].isdigit():  # noqa: PLR2004
            return f"process {parts[4]} ({_command_of(parts[4])})"
    return "another process"


def _command_of(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "command unknown"
    words = raw.replace(b"\0", b" ").decode("utf-8", "replace").split()
    return " ".join(words)[:80] or "command unknown"


def _parse(value: str) -> Response | None:
    """A stored response, or None when its text is not one (a legacy row gone bad)."""
    try:
        data = json.loads(value)
        return Response(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def _nearly_full(path: Path) -> bool:
    try:
        found = os.statvfs(path.parent)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < _NEARLY_FULL_BYTES


def _code(err: sqlite3.DatabaseError) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else int(code) & 0xFF


def _is_corrupt(err: sqlite3.DatabaseError) -> bool:
    code = _code(err)
    if code is not None:
        return code in _CORRUPT_CODES
    return any(word in str(err) for word in _CORRUPT_WORDS)


def _storage_error(err: sqlite3.DatabaseError, path: Path) -> SbtError:
    """One line for a cache that cannot be written: a full disk, or a read-only folder.

    SQLite reports a disk that fills while it extends its log as a plain I/O error, so
    the free space decides between the two messages.
    """
    if _code(err) == _FULL_CODE or "disk is full" in str(err) or _nearly_full(path):
        return SbtError(
            f"no space left on device writing {path}; free space or use --output-dir elsewhere"
        )
    return SbtError(
        f"cannot use the response cache {path} ({err}); check that its folder is writable "
        "and the disk healthy, or use --output-dir elsewhere"
    )
