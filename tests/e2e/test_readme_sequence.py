"""The README's commands in order, as a new user runs them, at a small --limit on tiny models.

Quick start, a user task, predict-only then `score`, `sbt-train text` then scoring it,
`compare`, `leaderboard --ci` and `report`: each succeeds, the ETHICS mean survives later
runs into the same folder, and a second `sbt-train` into the used folder is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import run_cli

REPO = Path(__file__).resolve().parents[2]


def train(*argv: str) -> int:
    from sbt_train.cli import main

    return main(list(argv))


@pytest.mark.slow
def test_the_readme_sequence_keeps_every_result(
    tiny_model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every README step exits 0 on tiny models; ETHICS mean is kept; a second train is refused."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SBT_DATA_DIR", str(data_dir))
    base = f"hf:{tiny_model_dir}"
    small = ("--limit", "2", "--dtype", "float32")
    # quick start: TruthfulQA and the ETHICS group
    assert run_cli("run", "--tasks", "truthfulqa_mc2,ethics", "--models", base, *small) == 0
    (folder,) = Path("results").glob("*/results.json")
    assert "ethics" in json.loads(folder.read_text())["groups"]
    # a later run of another task into the same folder keeps the group mean
    assert run_cli("run", "--tasks", "truthfulqa_mc1", "--models", base, *small) == 0
    groups = json.loads(folder.read_text())["groups"]
    assert "ethics" in groups, f"ETHICS mean lost from {folder}"
    # a user task
    user = str(REPO / "examples" / "user_tasks")
    assert (
        run_cli("run", "--include-path", user, "--tasks", "my_yes_no", "--models", base, *small)
        == 0
    )
    # predict-only, then score as the README prints it (no --data-dir, no --limit)
    assert run_cli("run", "--tasks", "truthfulqa_mc2", "--models", base, *small,
                   "--predict-only", "--output-dir", "pred") == 0  # fmt: skip
    assert "sbt-bench score" in capsys.readouterr().out
    (samples,) = Path("pred").glob("*/samples_truthfulqa_mc2.jsonl")
    assert run_cli("score", "truthfulqa_mc2", "--predictions", str(samples)) == 0
    assert "results.json" in capsys.readouterr().out
    # sbt-train text, then scoring it; a second train into the same folder is refused
    alpaca = str(REPO / "benchmarks" / "data" / "alpaca_truthful_40.json")
    args = ("text", "--model", base, "--data", alpaca, "--format", "alpaca",
            "--template", "vicuna_v1", "--output-dir", "out/text", "--max-steps", "2",
            "--batch-size", "1", "--max-length", "512")  # fmt: skip
    assert train(*args) == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in Path("out/text").rglob("*"))
    capsys.readouterr()
    assert train(*args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in Path("out/text").rglob("*")) == before
    tuned = f"hf:{tmp_path / 'out' / 'text'}"
    assert run_cli("run", "--tasks", "truthfulqa_mc2,ethics", "--models", tuned, *small) == 0
    # compare, leaderboard --ci, report
    folders = sorted(p.parent for p in Path("results").glob("hf__*/results.json"))
    assert run_cli("compare", *(str(f) for f in folders[:2])) == 0
    capsys.readouterr()
    assert run_cli("leaderboard", "results/", "--spec", "sbt_paper_text", "--ci") == 0
    table = capsys.readouterr().out
    ethics_column = table.splitlines()[0].split("|").index(" ETHICS mean ")
    # the models' own runs (the scored predictions are rows named predictions:...)
    rows = [line.split("|") for line in table.splitlines()[2:] if line.startswith("| hf:")]
    assert rows, table
    assert all(row[ethics_column].strip() not in {"", "-"} for row in rows), table
    name = json.loads(folder.read_text())["model"]["name"]
    report = ["report", "results/", "--spec", "sbt_paper_text", "--base", name]
    assert run_cli(*report, "--output", "report.html") == 0
    assert Path("report.html").stat().st_size > 0
