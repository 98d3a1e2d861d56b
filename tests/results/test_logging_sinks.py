"""`--log wandb|tensorboard`: what each sink writes (read back offline), and the errors."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.results.logging_sinks import (
    check_sinks,
    log_to_tensorboard,
    log_to_wandb,
    run_config,
    scalar_metrics,
)
from tests.cli_runner import results_of, run_cli

RESULTS: dict[str, Any] = {
    "schema_version": 1,
    "model": {"name": "tiny"},
    "seed": 0,
    "tasks": {
        "ethics_cm": {
            "metrics": {"acc": 0.75, "letters-unparsed": float("nan")},
            "stderr": {"acc": 0.25},
            "n_samples": 4,
        },
    },
    "groups": {"ethics": {"tasks": ["ethics_cm"], "metrics": {"acc": 0.75}, "stderr": {}}},
}


def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    item = {"id": "cm-0", "context": "I lied.", "prediction": "yes", "scores": {"acc": 1.0}}
    (folder / "samples_ethics_cm.jsonl").write_text(json.dumps(item) + "\n", encoding="utf-8")
    return folder


def read_events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def wait_for(path: Path, marker: bytes, seconds: float = 20.0) -> bytes:
    """The file's bytes once they hold `marker`: W&B's writer flushes after `finish` returns."""
    deadline = time.monotonic() + seconds
    while marker not in (data := path.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker in data
    return data


def test_scalars_cover_tasks_groups_and_stderr_but_not_nan() -> None:
    """Every finite metric and standard error becomes `<task or group>/<name>`; NaN is left out."""
    assert scalar_metrics(RESULTS) == {
        "ethics_cm/acc": 0.75,
        "ethics_cm/acc_stderr": 0.25,
        "ethics/acc": 0.75,
    }


def test_config_is_the_document_without_scores() -> None:
    """The config carries the model and settings, and per task everything but the numbers."""
    config = run_config(RESULTS)
    assert config["model"] == {"name": "tiny"}
    assert config["tasks"] == {"ethics_cm": {"n_samples": 4}}
    assert "groups" not in config


def test_tensorboard_writes_scalars_and_text_it_reads_back(tmp_path: Path) -> None:
    """The event files hold each metric as a scalar and a text summary naming it."""
    folder = model_folder(tmp_path)
    log_to_tensorboard(RESULTS, folder)
    events = read_events(folder / "tensorboard")
    assert events.Scalars("ethics_cm/acc")[0].value == pytest.approx(0.75)
    assert events.Scalars("ethics/acc")[0].value == pytest.approx(0.75)
    summary = events.Tensors("summary/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| ethics_cm/acc_stderr | 0.25 |" in summary


def test_wandb_offline_run_holds_metrics_config_and_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, W&B writes a run file holding the metrics and config, and the samples table."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    log_to_wandb(RESULTS, model_folder(tmp_path))
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    records = wait_for(run_file, b"ethics_cm/acc_stderr")
    # The run file is W&B's protobuf log; metric names and their JSON values appear in it.
    assert b"0.75" in records
    assert b"schema_version" in records
    (table_file,) = run_dir.glob("files/media/table/samples_*.table.json")
    table = json.loads(table_file.read_text(encoding="utf-8"))
    assert table["columns"] == ["task", "id", "context", "prediction", "scores"]
    assert table["data"] == [["ethics_cm", "cm-0", "I lied.", "yes", '{"acc": 1.0}']]


def test_unknown_sink_is_rejected() -> None:
    """A name that is neither wandb nor tensorboard is one error naming both choices."""
    with pytest.raises(SbtError, match="use one of wandb, tensorboard"):
        check_sinks(["mlflow"])


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the library installed, the error says to install the log extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(SbtError, match=r'pip install -e "\.\[log\]"'):
        check_sinks(["wandb"])


def test_run_with_log_tensorboard_logs_the_results_file(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """`sbt-bench run --log tensorboard` writes events whose scalars equal results.json."""
    out = tmp_path / "out"
    args = ["--tasks", "ethics_cm", "--models", f"hf:{tiny_model_dir}", "--limit", "4"]
    code = run_cli(
        "run", *args, "--data-dir", str(data_dir), "--output-dir", str(out), "--log", "tensorboard"
    )
    assert code == 0
    results = results_of(out)
    (events_dir,) = out.glob("*/tensorboard")
    events = read_events(events_dir)
    assert events.Scalars("ethics_cm/acc")[0].value == pytest.approx(
        results["tasks"]["ethics_cm"]["metrics"]["acc"]
    )


def test_bad_log_flag_exits_2_before_model_work(capsys: pytest.CaptureFixture[str]) -> None:
    """`--log nope` is a one-line error with exit status 2."""
    assert run_cli("run", "--tasks", "ethics_cm", "--models", "smollm2", "--log", "nope") == 2
    assert "--log 'nope'" in capsys.readouterr().err
