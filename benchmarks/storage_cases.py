"""Storage and consistency cases of issue 12, run against any checkout: one table row each.

Drives only the CLI (and two stable functions: `ResponseCache`, `fingerprint`), so the same
script measures the behaviour before and after a change:

    cd /tmp && PYTHONPATH=/work/main python3 $REPO/benchmarks/storage_cases.py \
        --model-dir /tmp/tiny --data-dir /work/shared/data > before.md
    cd /tmp && PYTHONPATH=$REPO python3 $REPO/benchmarks/storage_cases.py \
        --model-dir /tmp/tiny --data-dir /work/shared/data > after.md

Run it from outside any checkout: `python -m` puts the current folder first on sys.path,
ahead of PYTHONPATH.

`--model-dir` is a small Hugging Face model folder (e.g. tests/tiny_models.build_tiny_llama).
Cases that need a tmpfs mount (full disk, read-only) are skipped unless run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

KILL_BEFORE_RESULTS = """
import os, signal, sys
import sbt_bench.evaluation.runner as runner
if hasattr(runner, "save_results"):  # before: samples are written, then results.json
    runner.save_results = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
else:  # after: the documented test hook cuts the commit at the same place
    os.environ["SBT_BENCH_TEST_KILL_AT"] = "commit-staged:1"
from sbt_bench.cli import main
main(sys.argv[1:])
"""


class Cases:
    """One output folder per case under a scratch directory; each method returns a cell."""

    def __init__(self, model_dir: Path, data_dir: Path, scratch: Path) -> None:
        self.model_dir = model_dir
        self.data_dir = data_dir
        self.scratch = scratch

    def run(
        self, out: Path, tasks: str, *extra: str, limit: int = 2, code: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`sbt-bench run` on the model (or `code` given the same argv) as a subprocess."""
        argv = ["run", "--tasks", tasks, "--models", f"hf:{self.model_dir}", "--limit"]
        argv += [str(limit), "--data-dir", str(self.data_dir), "--output-dir", str(out)]
        argv += ["--dtype", "float32", *extra]
        head = [sys.executable, "-c", code] if code else [sys.executable, "-m", "sbt_bench"]
        env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        return subprocess.run(
            [*head, *argv], capture_output=True, text=True, env=env, check=False, timeout=900
        )

    def folder(self, out: Path) -> Path:
        """The one model folder a run wrote under `out`."""
        return next(p for p in out.iterdir() if p.is_dir())

    def cache_damage(self, name: str, damage: Callable[[Path], None]) -> str:
        """Run mc2, damage its cache, rerun: exit status, whether mc2 changed, cache health."""
        out = self.scratch / name
        first = self.run(out, "truthfulqa_mc2")
        mc2 = _metric(self.folder(out), "truthfulqa_mc2")
        damage(self.folder(out) / "cache.sqlite")
        again = self.run(out, "truthfulqa_mc2")
        if again.returncode != 0:
            return _outcome(again)
        after = _metric(self.folder(out), "truthfulqa_mc2")
        timing = json.loads((self.folder(out) / "results.json").read_text())["timing"]
        same = "same mc2" if after == mc2 else f"mc2 {mc2:.10f} -> {after:.10f}"
        health = timing.get("cache", "-")
        return f"exit {again.returncode} (first {first.returncode}), {same}, cache {health}"

    def flipped(self) -> str:
        """Six cached log-likelihoods halved (SQLite's integrity check stays ok)."""

        def flip(path: Path) -> None:
            db = sqlite3.connect(path)
            for key, value in db.execute("SELECT key, value FROM responses LIMIT 6").fetchall():
                data = json.loads(value)
                data["logprob"] /= 2  # digits changed; the row is still valid JSON and SQL
                db.execute("UPDATE responses SET value = ? WHERE key = ?", (json.dumps(data), key))
            db.commit()
            db.close()

        return self.cache_damage("flipped", flip)

    def truncated(self) -> str:
        """The cache cut to its first 3000 bytes."""
        return self.cache_damage("truncated", lambda p: p.write_bytes(p.read_bytes()[:3000]))

    def garbage(self) -> str:
        """The cache overwritten with bytes that are no SQLite header."""
        return self.cache_damage("garbage", lambda p: p.write_bytes(b"garbage!" * 600))

    def malformed_page(self) -> str:
        """One page of the cache overwritten with 0xff."""

        def damage(path: Path) -> None:
            data = path.read_bytes()
            path.write_bytes(data[:4096] + b"\xff" * 4096 + data[8192:])

        return self.cache_damage("malformed", damage)

    def wal(self) -> str:
        """Largest WAL file seen while 1500 responses are put, against the final cache."""
        from sbt_bench.core.types import Request, Response  # noqa: PLC0415
        from sbt_bench.evaluation.cache import ResponseCache  # noqa: PLC0415 - the tree under test

        path = self.scratch / "wal" / "cache.sqlite"
        wal = path.with_name("cache.sqlite-wal")
        largest = 0
        with ResponseCache(path, "fp") as cache:
            for i in range(1500):
                request = Request("loglikelihood", f"question {i} " + "x" * 300, " yes")
                cache.put(cache.key(request), Response(logprob=-float(i), is_greedy=False))
                largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            size = path.stat().st_size
        ratio = largest / size
        return f"largest WAL {largest // 1024} KiB vs cache {size // 1024} KiB ({ratio:.1f}x)"

    def concurrent(self) -> str:
        """Two runs of different tasks into one folder at once, three times."""
        kept = []
        for attempt in range(3):
            out = self.scratch / f"concurrent{attempt}"
            with ThreadPoolExecutor(2) as pool:
                procs = list(pool.map(self.run, [out, out], ["ethics_cm", "ethics_justice"]))
            doc = json.loads((self.folder(out) / "results.json").read_text())
            codes = ",".join(str(p.returncode) for p in procs)
            kept.append(f"{len(doc['tasks'])} (exit {codes})")
        return "tasks kept of 2: " + "; ".join(kept)

    def kill_before_results(self) -> str:
        """A rerun with a smaller --limit killed after the samples, before results.json."""
        out = self.scratch / "cut"
        self.run(out, "ethics_cm", limit=4)
        cut = self.run(out, "ethics_cm", limit=2, code=KILL_BEFORE_RESULTS)
        folder = self.folder(out)
        n = json.loads((folder / "results.json").read_text())["tasks"]["ethics_cm"]["n_samples"]
        lines = len((folder / "samples_ethics_cm.jsonl").read_text().splitlines())
        return f"killed ({cut.returncode}): results.json n={n}, samples file {lines} lines"

    def identity(self) -> str:
        """The same model name rerun with another dtype (another identity)."""
        out = self.scratch / "identity"
        self.run(out, "ethics_cm")
        other = self.run(out, "ethics_justice", "--dtype", "bfloat16")
        doc = json.loads((self.folder(out) / "results.json").read_text())
        samples = sorted(p.name for p in self.folder(out).glob("samples_*"))
        return f"{_outcome(other)}; tasks {sorted(doc['tasks'])}; samples {samples}"

    def orphans_and_mode(self) -> str:
        """Temporary files of a killed writer, and the modes of the files a run writes."""
        out = self.scratch / "orphans"
        self.run(out, "ethics_cm")
        folder = self.folder(out)
        for name in (".results.json.abc.tmp", ".samples_ethics_cm.jsonl.def.tmp"):
            (folder / name).write_text("half")
        self.run(out, "ethics_cm")
        left = sorted(p.name for p in folder.glob(".*.tmp"))
        modes = {
            p.name: oct(stat.S_IMODE(p.stat().st_mode))
            for p in (folder / "results.json", folder / "samples_ethics_cm.jsonl")
        }
        return f"orphans left {left}; modes {modes} (umask {oct(_umask())})"

    def base_url(self) -> str:
        """Fingerprints of one server's URL spelt three ways."""
        from sbt_bench.backends import BackendOptions, ModelSpec, fingerprint  # noqa: PLC0415

        urls = ["http://localhost:8000/v1", "http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"]
        prints = {
            fingerprint(ModelSpec("m", "openai-completions", "m", base_url=u), BackendOptions())
            for u in urls
        }
        return f"{len(prints)} identities for {len(urls)} spellings"

    def disk_full(self) -> str:
        """A run on a full 1 MiB tmpfs after a first run there."""
        with _tmpfs(self.scratch / "full", "size=1m") as point:
            if point is None:
                return "skipped (no tmpfs)"
            out = point / "out"
            self.run(out, "ethics_cm")
            before = (self.folder(out) / "results.json").read_bytes()
            _fill(point)
            full = self.run(out, "ethics_cm,ethics_justice")
            same = (self.folder(out) / "results.json").read_bytes() == before
            return f"{_outcome(full)}; results.json unchanged: {same}"

    def under_file(self) -> str:
        """--output-dir inside a regular file."""
        blocker = self.scratch / "blocker"
        blocker.write_text("x")
        return _outcome(self.run(blocker / "out", "ethics_cm"))

    def read_only(self) -> str:
        """--output-dir on a read-only tmpfs."""
        with _tmpfs(self.scratch / "ro", "ro,size=64k") as point:
            if point is None:
                return "skipped (no tmpfs)"
            return _outcome(self.run(point, "ethics_cm"))

    def leaderboard_under_file(self) -> str:
        """Leaderboard --output inside a regular file."""
        out = self.scratch / "board"
        self.run(out, "ethics_cm")
        (self.scratch / "board-blocker").write_text("x")
        target = self.scratch / "board-blocker" / "t.md"
        return _outcome(_cli("leaderboard", str(out), "--output", str(target)))

    def string_metric(self) -> str:
        """A results.json whose metric is a string, read by leaderboard."""
        out = self.scratch / "board"
        path = self.folder(out) / "results.json"
        doc = json.loads(path.read_text())
        doc["tasks"]["ethics_cm"]["metrics"]["acc"] = "0.5x"
        path.write_text(json.dumps(doc))
        return _outcome(_cli("leaderboard", str(out), "--spec", "sbt_text"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sbt_bench", *args], capture_output=True, text=True, check=False
    )


def _outcome(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    last = lines[-1][:160] if lines else ""
    tb = " +traceback" if "Traceback" in proc.stderr else ""
    return f"exit {proc.returncode}{tb}: {last}".replace("|", "/")


def _metric(folder: Path, task: str) -> float:
    return float(json.loads((folder / "results.json").read_text())["tasks"][task]["metrics"]["acc"])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _tmpfs:  # noqa: N801 - a context manager, named like contextlib's
    def __init__(self, point: Path, options: str) -> None:
        self.point = point
        self.options = options
        self.mounted = False

    def __enter__(self) -> Path | None:
        self.point.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", self.options, "tmpfs", str(self.point)],
            capture_output=True,
            check=False,
        )
        self.mounted = done.returncode == 0
        return self.point if self.mounted else None

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.point)], check=False)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


CASES: list[tuple[str, str]] = [
    ("digits changed inside 6 cached values (mc2, logprob halved)", "flipped"),
    ("cache truncated", "truncated"),
    ("cache with a garbage header", "garbage"),
    ("cache with a malformed page", "malformed_page"),
    ("WAL size during 1500 puts", "wal"),
    ("two concurrent runs, different tasks, one folder (x3)", "concurrent"),
    ("kill between samples write and results write (limit 4, then 2)", "kill_before_results"),
    ("same name, another dtype", "identity"),
    ("orphan .tmp files; file modes", "orphans_and_mode"),
    ("base_url localhost / 127.0.0.1 / trailing slash", "base_url"),
    ("full disk (1 MiB tmpfs)", "disk_full"),
    ("--output-dir under a regular file", "under_file"),
    ("read-only file system", "read_only"),
    ("leaderboard --output under a regular file", "leaderboard_under_file"),
    ("results.json whose metric is a string (leaderboard)", "string_metric"),
]


def main() -> None:
    """Print `case | outcome` rows for the checkout on PYTHONPATH."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--only", help="comma-separated case method names")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as scratch:
        cases = Cases(args.model_dir.resolve(), args.data_dir.resolve(), Path(scratch))
        print("| case | outcome |\n|---|---|")
        for label, method in CASES:
            if only is None or method in only:
                try:
                    cell: Any = getattr(cases, method)()
                except (OSError, KeyError, ValueError, StopIteration) as err:
                    cell = f"case failed to run: {type(err).__name__}: {err}"
                print(f"| {label} | {cell} |", flush=True)


if __name__ == "__main__":
    main()
