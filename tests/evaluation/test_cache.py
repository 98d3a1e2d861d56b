"""The checked response cache: checksums, corrupt files moved aside, legacy caches, WAL size."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import Request, Response
from sbt_bench.evaluation.cache import CHECKPOINT_EVERY, ResponseCache

FINGERPRINT = "tiny"


def fill(path: Path, n: int = 300) -> list[str]:
    """A cache of `n` log-likelihood responses; their keys in order."""
    with ResponseCache(path, FINGERPRINT) as cache:
        keys = [cache.key(Request("loglikelihood", f"context {i}", " yes")) for i in range(n)]
        for i, key in enumerate(keys):
            cache.put(key, Response(logprob=-1.0 - i / 1000, is_greedy=False))
    return keys


def flip_digits(path: Path, n_rows: int) -> None:
    """Change one digit inside the stored value of the first `n_rows` rows (checksums kept)."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT key, value FROM responses ORDER BY rowid LIMIT ?", (n_rows,))
    for key, value in rows.fetchall():
        data = json.loads(value)
        data["logprob"] -= 0.5
        db.execute("UPDATE responses SET value = ? WHERE key = ?", (json.dumps(data), key))
    db.commit()
    db.close()


def aside_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def test_flipped_values_are_dropped_and_counted(tmp_path: Path) -> None:
    """Rows whose value no longer matches its checksum are not returned, deleted and counted."""
    path = tmp_path / "cache.sqlite"
    keys = fill(path, 100)
    flip_digits(path, 7)
    with ResponseCache(path, FINGERPRINT) as cache:
        found = cache.get_many(keys)
        assert len(found) == 93
        assert cache.health.corrupt_rows_dropped == 7
        assert len(cache.get_many(keys)) == 93  # dropped rows are gone, not found again
        assert cache.health.corrupt_rows_dropped == 7
    kept = enumerate(keys[7:], start=7)
    assert all(found[k].logprob == pytest.approx(-1.0 - i / 1000) for i, k in kept)


def test_a_row_moved_to_another_key_fails_its_checksum(tmp_path: Path) -> None:
    """The checksum covers the key: a value copied under another key is not trusted."""
    path = tmp_path / "cache.sqlite"
    keys = fill(path, 2)
    db = sqlite3.connect(path)
    (value, stored) = db.execute(
        "SELECT value, checksum FROM responses WHERE key = ?", (keys[0],)
    ).fetchone()
    update = "UPDATE responses SET value = ?, checksum = ? WHERE key = ?"
    db.execute(update, (value, stored, keys[1]))
    db.commit()
    db.close()
    with ResponseCache(path, FINGERPRINT) as cache:
        assert set(cache.get_many(keys)) == {keys[0]}
        assert cache.health.corrupt_rows_dropped == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 3], id="truncated"),
        pytest.param(lambda b: b"not a database at all!" + b[22:], id="garbage-header"),
        pytest.param(lambda b: b[:4096] + b"\xff" * 4096 + b[8192:], id="malformed-page"),
    ],
)
def test_unreadable_cache_is_moved_aside_and_recomputed(
    tmp_path: Path, damage: Callable[[bytes], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """A cache SQLite cannot read is renamed cache.sqlite.corrupt-<time>, with one warning."""
    path = tmp_path / "cache.sqlite"
    keys = fill(path)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING), ResponseCache(path, FINGERPRINT) as cache:
        assert cache.get_many(keys) == {}
        cache.put(keys[0], Response(logprob=-2.0, is_greedy=True))
        assert cache.get_many(keys[:1])[keys[0]].logprob == -2.0
        assert cache.health.moved_aside is not None
    (aside,) = aside_files(path)
    assert cache.health.moved_aside == aside.name
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "moved aside" in warnings[0].getMessage()


def test_legacy_cache_is_migrated_and_its_rows_counted_unverified(tmp_path: Path) -> None:
    """A cache without a checksum column is still read; its rows are counted as unverified."""
    path = tmp_path / "cache.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, value TEXT)")
    with ResponseCache(tmp_path / "keys.sqlite", FINGERPRINT) as keys:
        old = keys.key(Request("loglikelihood", "old", " yes"))
    db.execute("INSERT INTO responses VALUES (?, ?)", (old, json.dumps({"logprob": -3.0})))
    db.commit()
    db.close()
    with ResponseCache(path, FINGERPRINT) as cache:
        new = cache.key(Request("loglikelihood", "new", " yes"))
        cache.put(new, Response(logprob=-4.0))
        found = cache.get_many([old, new])
        assert found[old].logprob == -3.0
        assert found[new].logprob == -4.0
        assert cache.health.unverified_legacy_rows == 1
        assert cache.health.corrupt_rows_dropped == 0


def test_legacy_row_that_is_not_a_response_is_dropped(tmp_path: Path) -> None:
    """A legacy row whose text is not a response (no checksum to go by) is dropped and counted."""
    path = tmp_path / "cache.sqlite"
    keys = fill(path, 1)
    db = sqlite3.connect(path)
    db.execute("UPDATE responses SET value = '{\"logp', checksum = NULL")
    db.commit()
    db.close()
    with ResponseCache(path, FINGERPRINT) as cache:
        assert cache.get_many(keys) == {}
        assert cache.health.corrupt_rows_dropped == 1


def test_wal_stays_small_while_a_run_writes(tmp_path: Path) -> None:
    """Checkpoints as the run goes keep the WAL file under the cache's own size."""
    path = tmp_path / "cache.sqlite"
    wal = tmp_path / "cache.sqlite-wal"
    largest = 0
    with ResponseCache(path, FINGERPRINT) as cache:
        for i in range(20 * CHECKPOINT_EVERY):
            request = Request("generate", f"prompt {i} " + "x" * 200)
            cache.put(cache.key(request), Response(text="y" * 300))
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        db_size = path.stat().st_size
    assert largest < db_size
    assert not wal.exists() or wal.stat().st_size == 0  # truncated on close


class FullDisk:
    """Stands in for a sqlite3 connection on a full disk."""

    def execute(self, *args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        pass


def test_full_disk_on_put_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """SQLITE_FULL while committing a response becomes the no-space SbtError with the path."""
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path, FINGERPRINT) as cache:
        cache._db = FullDisk()  # type: ignore[assignment]
        with pytest.raises(SbtError, match=r"no space left on device writing .*cache\.sqlite"):
            cache.put("k", Response(text="a"))
