"""The dequantised GGUF copy: built once, read afterwards, rebuilt when incomplete, same numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sbt_bench.backends.gguf_cache import MANIFEST, dequantised_copy, is_complete

TEXT = "Q: What is human life expectancy in the United States?"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class CountingLoader:
    """Stands in for the GGUF load: returns the tiny model and counts how often it ran."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.calls = 0

    def __call__(self) -> tuple[Any, Any]:
        self.calls += 1
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        return tokenizer, AutoModelForCausalLM.from_pretrained(self.model_dir)


def fake_gguf(tmp_path: Path, content: bytes = b"GGUF fake weights") -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    return path


def logits(folder: Path) -> torch.Tensor:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(tokenizer(TEXT, return_tensors="pt").input_ids).logits  # type: ignore[no-any-return]


def test_copy_is_built_once_then_read(cache: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    """The second request for the same file returns the same folder without loading the GGUF."""
    loader = CountingLoader(tiny_model_dir)
    gguf = fake_gguf(tmp_path)
    first = dequantised_copy(gguf, loader)
    second = dequantised_copy(gguf, loader)
    assert first == second
    assert first.parent.parent == cache
    assert loader.calls == 1
    assert is_complete(first)


def test_copy_gives_the_same_logits_and_tokens(
    cache: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Model and tokenizer read from the copy equal the ones it was made from."""
    folder = dequantised_copy(fake_gguf(tmp_path), CountingLoader(tiny_model_dir))
    assert torch.equal(logits(folder), logits(tiny_model_dir))
    original = AutoTokenizer.from_pretrained(tiny_model_dir)
    copied = AutoTokenizer.from_pretrained(folder)
    assert copied(TEXT).input_ids == original(TEXT).input_ids


@pytest.mark.parametrize("damage", ["truncate", "no_manifest"])
def test_incomplete_copy_is_rebuilt_not_loaded(
    cache: Path, tmp_path: Path, tiny_model_dir: Path, damage: str
) -> None:
    """A cut-short weights file or a missing manifest makes the next load rebuild the copy."""
    loader = CountingLoader(tiny_model_dir)
    gguf = fake_gguf(tmp_path)
    folder = dequantised_copy(gguf, loader)
    if damage == "truncate":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        (folder / MANIFEST).unlink()
    assert not is_complete(folder)
    assert dequantised_copy(gguf, loader) == folder
    assert loader.calls == 2
    assert is_complete(folder)
    assert torch.equal(logits(folder), logits(tiny_model_dir))


def test_changed_file_content_gets_its_own_copy(
    cache: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The copy is keyed by content: rewriting the GGUF file in place makes a new copy."""
    loader = CountingLoader(tiny_model_dir)
    gguf = fake_gguf(tmp_path)
    first = dequantised_copy(gguf, loader)
    fake_gguf(tmp_path, b"GGUF other weights, a different length")
    assert dequantised_copy(gguf, loader) != first
    assert loader.calls == 2


@pytest.mark.slow
def test_smollm2_cached_load_matches_the_gguf_load(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached SmolLM2 gives the GGUF-loaded logits, and its fingerprint does not move."""
    from sbt_bench.backends import BackendOptions, fingerprint, parse_model_spec
    from sbt_bench.backends.hf_loading import load_tokenizer_and_model

    spec = parse_model_spec("smollm2")
    before = fingerprint(spec, BackendOptions())
    kwargs = {"gguf_file": spec.gguf_file}
    gguf_tokenizer = AutoTokenizer.from_pretrained(spec.path, **kwargs)
    gguf_model = AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch.float32, **kwargs)
    for _ in range(2):  # the first load builds the copy, the second reads it
        tokenizer, model = load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32)
    ids = gguf_tokenizer(TEXT, return_tensors="pt").input_ids
    assert tokenizer(TEXT, return_tensors="pt").input_ids.tolist() == ids.tolist()
    assert tokenizer.chat_template == gguf_tokenizer.chat_template
    with torch.no_grad():
        assert torch.equal(model(ids).logits, gguf_model.eval()(ids).logits)
    assert fingerprint(spec, BackendOptions()) == before
    assert len(list((cache / "gguf").glob("*/" + MANIFEST))) == 1
