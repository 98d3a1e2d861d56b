"""A `vllm:` model this machine cannot run stops with one line before any engine starts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends import parse_model_spec
from sbt_bench.backends.vllm_checks import check_vllm_spec, head_size
from sbt_bench.core.errors import SbtError
from tests.cli_runner import run_cli, tiny_run_args
from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with heads of 32, the smallest vLLM's CPU attention runs."""
    return build_tiny_llama(tmp_path_factory.mktemp("wide"), hidden_size=128)


def _vllm_run(model: str, data_dir: Path, out: Path) -> list[str]:
    args = tiny_run_args(Path(model), data_dir, out, "ethics_cm", 1)
    args[args.index("--models") + 1] = model
    return args


def test_head_size_read_from_the_config(tiny_model_dir: Path, wide_model_dir: Path) -> None:
    """Head size is hidden_size / heads (or head_dim), from the text model's config."""
    assert head_size(parse_model_spec(f"vllm:{tiny_model_dir}")) == 8
    assert head_size(parse_model_spec(f"vllm:{wide_model_dir}")) == 32


def test_small_heads_refused_on_cpu(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """Heads of 8 on CPU: one line naming the head size and the hf backend, exit 2."""
    assert run_cli(*_vllm_run(f"vllm:{tiny_model_dir}", data_dir, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "head size 8 is below the 32" in err
    assert f"hf:{tiny_model_dir}" in err


def test_tensor_parallel_above_the_gpus(wide_model_dir: Path, tmp_path: Path) -> None:
    """tensor_parallel_size above the visible GPUs is named with the GPU count."""
    path = tmp_path / "tp.yaml"
    path.write_text(f"model: vllm:{wide_model_dir}\ntensor_parallel_size: 4\n", encoding="utf-8")
    with pytest.raises(SbtError, match="tensor_parallel_size 4 is above the 2 visible GPU"):
        check_vllm_spec(parse_model_spec(str(path)), gpus=2)
    with pytest.raises(SbtError, match="above the 0 visible GPU"):
        check_vllm_spec(parse_model_spec(str(path)), gpus=0)


def test_tensor_parallel_cli_exit_2(
    wide_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """The same refusal through `run`: one line, exit status 2."""
    path = tmp_path / "tp.yaml"
    path.write_text(f"model: vllm:{wide_model_dir}\ntensor_parallel_size: 4\n", encoding="utf-8")
    assert run_cli(*_vllm_run(str(path), data_dir, tmp_path / "out")) == 2
    assert "tensor_parallel_size 4 is above" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_extra_names_the_install_command(
    wide_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """Without vLLM installed, `vllm:` names the extra to install, exit 2."""
    assert run_cli(*_vllm_run(f"vllm:{wide_model_dir}", data_dir, tmp_path)) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[vllm]"' in err
    assert "Traceback" not in err
