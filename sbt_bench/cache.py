"""A crash-safe on-disk response cache, keyed by model identity and request.

Every response is committed as soon as it arrives (SQLite in WAL mode), so a killed run
loses nothing it finished, and a rerun with any number of processes finds it: the key
holds no rank or world size, unlike lm-eval's per-rank cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

from typing_extensions import Self

from sbt_bench.types import Request, Response


class ResponseCache:
    """Responses of one model (its fingerprint) to requests, persisted in a SQLite file."""

    def __init__(self, path: Path, model_fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model_fingerprint = model_fingerprint
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()

    def key(self, request: Request) -> str:
        """The cache key of `request` for this model."""
        return hashlib.sha256(f"{self.model_fingerprint}:{request.key()}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        """The cached responses among `keys`."""
        found: dict[str, Response] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, value FROM responses WHERE key IN ({marks})"  # noqa: S608 - only '?' marks
            for key, value in self._db.execute(query, chunk):
                found[key] = Response(**json.loads(value))
        return found

    def put(self, key: str, response: Response) -> None:
        """Store and commit one response."""
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
            (key, json.dumps(asdict(response))),
        )
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
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
