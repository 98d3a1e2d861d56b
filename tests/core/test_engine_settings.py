"""Loading and engine keys of a model YAML: parsing, refusals, identity and records."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends import BackendOptions, fingerprint, parse_model_spec
from sbt_bench.core.engine_settings import EngineSettings
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec
from tests.cli_runner import results_of, run_cli, tiny_run_args


def _yaml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ckpt").mkdir(exist_ok=True)
    (tmp_path / "ckpt" / "config.json").write_text("{}", encoding="utf-8")
    path = tmp_path / "model.yaml"
    path.write_text(text.replace("CKPT", str(tmp_path / "ckpt")), encoding="utf-8")
    return path


def test_yaml_keys_fill_the_engine_settings(tmp_path: Path) -> None:
    """device_map, max_memory, offload_folder, attention and vLLM keys land in spec.engine."""
    hf = _yaml(
        tmp_path,
        "model: hf:CKPT\ndevice_map: auto\nmax_memory: {0: 20GiB, cpu: 60GiB}\n"
        "offload_folder: /tmp/off\nattn_implementation: sdpa\n",
    )
    engine = parse_model_spec(str(hf)).engine
    assert engine.max_memory_map() == {0: "20GiB", "cpu": "60GiB"}
    assert (engine.device_map, engine.attn_implementation) == ("auto", "sdpa")
    vllm = _yaml(
        tmp_path,
        "model: vllm:CKPT\ntensor_parallel_size: 2\nmax_model_len: 4096\nenforce_eager: true\n",
    )
    engine = parse_model_spec(str(vllm)).engine
    assert (engine.tensor_parallel_size, engine.max_model_len, engine.enforce_eager) == (
        2,
        4096,
        True,
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model: hf:CKPT\ndevice_map: everywhere\n", "device_map must be one of"),
        ("model: hf:CKPT\nload_in: 3bit\n", "load_in must be one of"),
        ("model: vllm:CKPT\ngpu_memory_utilization: 1.5\n", "gpu_memory_utilization"),
        ("model: vllm:CKPT\ntensor_parallel_size: 0\n", "tensor_parallel_size"),
        ("model: hf:CKPT\nmax_memory: 20GiB\n", "max_memory must map devices"),
        ("model: hf:CKPT\noffload_folder: /tmp/x\n", "need `device_map: auto`"),
        ("model: openai:gpt-4o\ndevice_map: auto\n", "device_map applies to hf and llava"),
        ("model: hf:CKPT\ntensor_parallel_size: 2\n", "tensor_parallel_size applies to vllm"),
        ("model: vllm:CKPT\nload_in: 4bit\n", "load_in applies to hf and llava"),
    ],
)
def test_bad_engine_keys_name_the_file(tmp_path: Path, text: str, needle: str) -> None:
    """A wrong value, or a key the backend cannot honour, is one error naming the file."""
    path = _yaml(tmp_path, text)
    with pytest.raises(SbtError, match=needle) as err:
        parse_model_spec(str(path))
    assert str(path) in str(err.value)


def test_device_map_on_an_api_model_exits_2(tmp_path: Path, capsys: Any) -> None:
    """`device_map` on an openai: model stops the run with one line and exit status 2."""
    path = _yaml(tmp_path, "model: openai:gpt-4o\ndevice_map: auto\n")
    assert run_cli("run", "--tasks", "truthfulqa_mc1", "--models", str(path)) == 2
    assert "device_map applies to hf and llava" in capsys.readouterr().err


def _spec(**engine: Any) -> ModelSpec:
    return ModelSpec(name="m", backend="hf", path="org/m", engine=EngineSettings(**engine))


def test_identity_counts_numerics_not_placement() -> None:
    """Attention, quantisation and device map change the fingerprint; memory limits do not."""
    options = BackendOptions()
    base = fingerprint(_spec(), options)
    mapped = fingerprint(_spec(device_map="auto"), options)
    assert mapped != base
    assert fingerprint(_spec(attn_implementation="eager"), options) != base
    assert fingerprint(_spec(load_in="4bit"), options) != base
    limited = _spec(device_map="auto", max_memory=(("cpu", "1GiB"),), offload_folder="/x")
    assert fingerprint(limited, options) == mapped


def test_vllm_identity_names_the_engine_release() -> None:
    """A vllm: model's fingerprint depends on the installed vLLM, an hf: model's does not."""
    spec = replace(_spec(), backend="vllm")
    options = BackendOptions()
    real = importlib.metadata.version

    def other_release(name: str) -> str:
        return "0.0.1" if name.startswith("vllm") else real(name)

    before = fingerprint(spec, options), fingerprint(_spec(), options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importlib.metadata, "version", other_release)
        after = fingerprint(spec, options), fingerprint(_spec(), options)
    assert before[0] != after[0]
    assert before[1] == after[1]


@pytest.mark.parametrize(
    ("bitsandbytes", "needle"),
    [(False, "pip install bitsandbytes"), (True, "runs on a CUDA GPU only")],
)
def test_load_in_refused_where_it_cannot_run(
    tiny_model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    *,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    bitsandbytes: bool,
    needle: str,
) -> None:
    """load_in without bitsandbytes, or on a machine without a GPU: one line, exit 2."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name == "bitsandbytes":
            return real("json") if bitsandbytes else None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    path = tmp_path / "q.yaml"
    path.write_text(f"model: hf:{tiny_model_dir}\nload_in: 4bit\n", encoding="utf-8")
    args = tiny_run_args(tiny_model_dir, data_dir, tmp_path / "out", "ethics_cm", 1)
    args[args.index("--models") + 1] = str(path)
    assert run_cli(*args) == 2
    assert needle in capsys.readouterr().err


def test_results_record_the_loading_settings(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """results.json's model entry carries attn_implementation (and the other engine keys)."""
    path = tmp_path / "eager.yaml"
    path.write_text(f"model: hf:{tiny_model_dir}\nattn_implementation: eager\n", encoding="utf-8")
    args = tiny_run_args(tiny_model_dir, data_dir, tmp_path / "out", "ethics_cm", 2)
    args[args.index("--models") + 1] = str(path)
    assert run_cli(*args) == 0
    model = results_of(tmp_path / "out")["model"]
    assert model["engine"]["attn_implementation"] == "eager"
    assert model["engine"]["load_in"] is None
