"""End-to-end runs on the tiny model: results layout, resume after a crash, and caching."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends.hf import HFBackend
from sbt_bench.cli import main
from sbt_bench.core.types import Request, Response
from tests.cli_runner import Commits, results_of, run_cli, tiny_run_args


def run_args(model_dir: Path, data_dir: Path, out: Path, tasks: str) -> list[str]:
    return tiny_run_args(model_dir, data_dir, out, tasks, 4)


def run_tiny(model_dir: Path, data_dir: Path, out: Path, tasks: str) -> dict[str, Any]:
    code = run_cli(*run_args(model_dir, data_dir, out, tasks))
    assert code == 0
    return results_of(out)


class CountingBackend:
    """Wraps HFBackend.compute_groups to count computed requests and optionally crash."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, crash_after: int | None = None) -> None:
        self.computed = 0
        original = HFBackend.compute_groups
        counter = self

        def patched(
            self: HFBackend, requests: Sequence[Request], groups: Sequence[Sequence[int]]
        ) -> Iterator[tuple[int, Response]]:
            for item in original(self, requests, groups):
                if crash_after is not None and counter.computed >= crash_after:
                    raise RuntimeError("simulated crash")
                counter.computed += 1
                yield item

        monkeypatch.setattr(HFBackend, "compute_groups", patched)


class TestResults:
    def test_results_and_samples_layout(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """results.json holds metrics, stderr, counts, hash, versions; samples hold choice lls."""
        results = run_tiny(tiny_model_dir, data_dir, tmp_path, "truthfulqa_mc2,ethics")
        entry = results["tasks"]["truthfulqa_mc2"]
        assert 0.0 <= entry["metrics"]["acc"] <= 1.0
        assert entry["n_samples"] == 4
        assert entry["n_available"] == 817
        assert entry["hash"] and entry["version"] == "1.0"
        assert set(results["versions"]) >= {"sbt_bench", "torch", "transformers"}
        subsets = [
            results["tasks"][t]["metrics"]["acc"] for t in results["groups"]["ethics"]["tasks"]
        ]
        assert results["groups"]["ethics"]["metrics"]["acc"] == pytest.approx(sum(subsets) / 5)
        folder = next(tmp_path.iterdir())
        lines = (folder / "samples_truthfulqa_mc2.jsonl").read_text().splitlines()
        first = json.loads(lines[0])
        assert len(lines) == 4
        assert len(first["loglikelihoods"]) == len(first["choices"])
        assert first["scores"]["acc"] == pytest.approx(
            sum(pow(2.718281828459045, first["loglikelihoods"][g]) for g in first["gold"])
            / sum(pow(2.718281828459045, x) for x in first["loglikelihoods"]),
            rel=1e-6,
        )

    def test_rerun_is_served_from_the_cache(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A second identical run computes nothing and reports the same numbers."""
        first = run_tiny(tiny_model_dir, data_dir, tmp_path, "truthfulqa_mc1")
        counter = CountingBackend(monkeypatch)
        second = run_tiny(tiny_model_dir, data_dir, tmp_path, "truthfulqa_mc1")
        assert counter.computed == 0
        assert (
            second["tasks"]["truthfulqa_mc1"]["metrics"]
            == first["tasks"]["truthfulqa_mc1"]["metrics"]
        )
        assert second["timing"]["cached"] == second["timing"]["requests"]

    def test_mc2_reuses_mc1_choices(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Choices that mc1 and mc2 share are scored once across the two tasks."""
        counter = CountingBackend(monkeypatch)
        results = run_tiny(tiny_model_dir, data_dir, tmp_path, "truthfulqa_mc1,truthfulqa_mc2")
        requests = sum(
            results["tasks"][t]["n_requests"] for t in ("truthfulqa_mc1", "truthfulqa_mc2")
        )
        assert counter.computed < requests


class TestResume:
    def test_crash_mid_task_then_resume(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crashed run keeps what it finished; the rerun stores only the rest, same numbers.

        The rest's packed rows are recomputed whole, so the numbers are bit-identical.
        """
        clean = run_tiny(tiny_model_dir, data_dir, tmp_path / "clean", "truthfulqa_mc2")
        total = clean["timing"]["requests"]

        CountingBackend(monkeypatch, crash_after=7)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(run_args(tiny_model_dir, data_dir, tmp_path / "crashed", "truthfulqa_mc2"))
        monkeypatch.undo()

        commits = Commits(monkeypatch)
        resumed = run_tiny(tiny_model_dir, data_dir, tmp_path / "crashed", "truthfulqa_mc2")
        assert commits.count == total - 7
        assert resumed["tasks"]["truthfulqa_mc2"] == clean["tasks"]["truthfulqa_mc2"]

    def test_finished_tasks_survive_a_crash_in_a_later_task(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A run that crashes never loses the scores an earlier run wrote to results.json."""
        run_tiny(tiny_model_dir, data_dir, tmp_path, "ethics_cm")
        CountingBackend(monkeypatch, crash_after=0)
        with pytest.raises(RuntimeError):
            main(run_args(tiny_model_dir, data_dir, tmp_path, "ethics_cm,ethics_justice"))
        assert "ethics_cm" in results_of(tmp_path)["tasks"]
