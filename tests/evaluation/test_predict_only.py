"""`run --predict-only` then `sbt-bench score`, and a fractional `--limit`, as in lm-eval."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt

FAST = ("--limit", "3", "--gen-kwargs", "max_new_tokens=8")


def run_tiny(model: Path, data: Path, out: Path, tasks: str, *extra: str) -> int:
    return run_cli(
        "run",
        "--tasks",
        tasks,
        "--models",
        f"hf:{model}",
        "--data-dir",
        str(data),
        "--output-dir",
        str(out),
        *extra,
    )


class TestPredictOnly:
    def test_predict_then_score_equals_a_scored_run(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """Scoring the predict-only samples files later gives the numbers a full run gives."""
        assert (
            run_tiny(tiny_model_dir, data_dir, tmp_path / "full", "ethics_cm,truthfulqa_gen", *FAST)
            == 0
        )
        assert (
            run_tiny(
                tiny_model_dir,
                data_dir,
                tmp_path / "pred",
                "ethics_cm,truthfulqa_gen",
                *FAST,
                "--predict-only",
            )
            == 0
        )
        predicted = results_of(tmp_path / "pred")["tasks"]
        assert all(e["predict_only"] and e["metrics"] == {} for e in predicted.values())
        full = results_of(tmp_path / "full")["tasks"]
        # Where the items came from is recorded exactly as a scored run records it.
        source = ("hash", "data_source", "data_revision", "n_available", "n_missing_images")
        for task in ("ethics_cm", "truthfulqa_gen"):
            assert {k: predicted[task].get(k) for k in source} == {
                k: full[task].get(k) for k in source
            }
            (samples,) = (tmp_path / "pred").glob(f"*/samples_{task}.jsonl")
            assert all("scores" in json.loads(line) for line in samples.read_text().splitlines())
            assert (
                # As the README shows it: the run's --data-dir and --limit are recorded.
                run_cli(
                    "score", task, "--predictions", str(samples), "--output-dir", f"{tmp_path}/s"
                )
                == 0
            )
            # Named after the model that predicted, so both tasks fill one folder.
            (scored,) = (tmp_path / "s").glob("predictions__hf__*/results.json")
            entry = json.loads(scored.read_text())["tasks"][task]
            assert entry["metrics"] == full[task]["metrics"]
            assert entry["hash"] == full[task]["hash"]


class TestFractionalLimit:
    def test_fraction_takes_the_first_items_rounded_up(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """--limit 0.002 keeps ceil(0.2% of each task) first items, as lm-eval's get_sample_size."""
        assert (
            run_tiny(
                tiny_model_dir,
                data_dir,
                tmp_path,
                "ethics_justice,truthfulqa_mc1",
                "--limit",
                "0.002",
            )
            == 0
        )
        tasks = results_of(tmp_path)["tasks"]
        for entry in tasks.values():
            assert entry["n_samples"] == math.ceil(entry["n_available"] * 0.002)
            assert entry["limit"] == 0.002
        (samples,) = tmp_path.glob("*/samples_ethics_justice.jsonl")
        ids = [json.loads(line)["id"] for line in samples.read_text().splitlines()]
        assert ids == [str(i) for i in range(len(ids))]

    def test_bad_limit_is_one_line(self) -> None:
        """A limit that is neither a count nor a fraction below 1 stops with one line."""
        proc = sbt("run", "--tasks", "ethics_cm", "--models", "smollm2", "--limit", "1.5")
        assert_one_line_error(proc, "--limit", "fraction")
