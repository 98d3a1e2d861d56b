"""The Python API: `sbt_bench.evaluate` and `sbt_bench.load_results`, typed like results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sbt_bench


class TestPythonApi:
    def test_evaluate_returns_what_results_json_holds(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """`evaluate` returns typed results equal to the file it wrote and `load_results` reads."""
        (run,) = sbt_bench.evaluate(
            f"hf:{tiny_model_dir}",
            ["ethics_cm", "ethics_justice"],
            limit=2,
            data_dir=data_dir,
            output_dir=tmp_path,
            num_fewshot=0,
        )
        assert isinstance(run, sbt_bench.ModelResults)
        assert run.path is not None
        on_disk = json.loads(run.path.read_text())
        assert run.document == on_disk
        task = run.tasks["ethics_cm"]
        assert task.n_samples == 2
        assert task.metrics["acc"] == on_disk["tasks"]["ethics_cm"]["metrics"]["acc"]
        assert task.prompt["num_fewshot"] == 0
        assert sbt_bench.load_results(run.path.parent) == run

    def test_without_output_dir_nothing_is_kept(self, tiny_model_dir: Path, data_dir: Path) -> None:
        """Without `output_dir` the run works in a temporary folder and returns no path."""
        (run,) = sbt_bench.evaluate(
            f"hf:{tiny_model_dir}", "ethics_cm", limit=0.001, data_dir=data_dir
        )
        assert run.path is None
        assert run.tasks["ethics_cm"].n_samples == 4  # ceil(3885 * 0.001)

    def test_import_stays_cheap(self) -> None:
        """`import sbt_bench` imports neither torch nor the runner until the API is used."""
        code = (
            "import sys, sbt_bench; print('torch' in sys.modules, 'sbt_bench.api' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == ["False", "False"]
