"""benchmarks/gpu/run_gpu_checks.py imports and plans its checks on a machine without a GPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "run_gpu_checks.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_gpu_checks", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_dry_run_prints_every_check(capsys: Any, tmp_path: Path) -> None:
    """--dry-run lists scoring, auto/OOM, device-map spill and the three trainer stages."""
    module = _load()
    assert module.main(["--dry-run", "--work-dir", str(tmp_path)]) == 0
    names = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    for size in ("1b", "7b"):
        for group in ("tq", "ethics"):
            assert f"sbt-{size}-{group}" in names
            assert f"lm-eval-{size}-{group}" in names
    assert {"auto-oom", "device-map-spill", "train-text", "train-pretrain", "train-finetune"} <= (
        set(names)
    )


def test_skip_lm_eval_and_sizes(capsys: Any) -> None:
    """--skip-lm-eval drops lm-eval's rows; --sizes picks the models scored."""
    assert _load().main(["--dry-run", "--skip-lm-eval", "--sizes", "1b"]) == 0
    out = capsys.readouterr().out
    assert "lm-eval" not in out
    assert "sbt-7b" not in out
    assert "sbt-1b-tq" in out


def test_unknown_size_is_refused() -> None:
    """An unknown model size is an argument error (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        _load().parse_args(["--sizes", "13b"])
    assert exit_info.value.code == 2
