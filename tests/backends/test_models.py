"""Model specs: aliases, hf: paths and hub ids, adapters, GGUF files and YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbt_bench.backends import BackendOptions, fingerprint, parse_model_spec
from sbt_bench.core.errors import SbtError


@pytest.fixture(autouse=True)
def _checkpoint_folder(tmp_path: Path) -> None:
    """Each test's folder parses as a checkpoint folder: it holds a config.json."""
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")


def test_hf_directory(tmp_path: Path) -> None:
    """hf:<dir> resolves the folder and names the results folder after the spec."""
    spec = parse_model_spec(f"hf:{tmp_path}")
    assert spec.path == str(tmp_path.resolve())
    assert spec.gguf_file is None
    assert "/" not in spec.slug()


def test_gguf_file(tmp_path: Path) -> None:
    """hf:<file.gguf> loads that file from its folder."""
    (tmp_path / "m.gguf").write_bytes(b"")
    spec = parse_model_spec(f"hf:{tmp_path / 'm.gguf'}")
    assert (spec.path, spec.gguf_file) == (str(tmp_path.resolve()), "m.gguf")


def test_hub_id_is_kept_verbatim() -> None:
    """A hub id that is not a local path is passed on to transformers as is."""
    assert parse_model_spec("hf:org/model").path == "org/model"


def test_missing_adapter_is_an_error(tmp_path: Path) -> None:
    """An adapter folder that does not exist is named."""
    with pytest.raises(SbtError, match="adapter directory"):
        parse_model_spec(f"hf:{tmp_path}+{tmp_path / 'nope'}")


def test_yaml_spec(tmp_path: Path) -> None:
    """A model YAML sets the name, dtype and batch size of one model."""
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"name: mine\nmodel: hf:{tmp_path}\ndtype: bfloat16\nbatch_size: 4\n", encoding="utf-8"
    )
    spec = parse_model_spec(str(path))
    assert (spec.name, spec.dtype, spec.batch_size) == ("mine", "bfloat16", 4)


def test_yaml_spec_rejects_unknown_keys(tmp_path: Path) -> None:
    """A typo in a model YAML is reported with the allowed keys."""
    path = tmp_path / "bad.yaml"
    path.write_text(f"model: hf:{tmp_path}\nbatchsize: 4\n", encoding="utf-8")
    with pytest.raises(SbtError, match="batchsize"):
        parse_model_spec(str(path))


def test_fingerprint_separates_dtypes_and_retrained_weights(tmp_path: Path) -> None:
    """The cache identity changes with dtype and when the weights on disk change."""
    (tmp_path / "model.safetensors").write_bytes(b"1")
    spec = parse_model_spec(f"hf:{tmp_path}")
    fp32 = fingerprint(spec, BackendOptions(dtype="float32"))
    assert fp32 != fingerprint(spec, BackendOptions(dtype="bfloat16"))
    assert fp32 == fingerprint(spec, BackendOptions(dtype="float32", batch_size=2))
    (tmp_path / "model.safetensors").write_bytes(b"22")
    assert fp32 != fingerprint(spec, BackendOptions(dtype="float32"))
