"""`sbt-paper:<name>`: the paper's checkpoints by name, from local copies or one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sbt_bench.analysis.leaderboard import load_leaderboard_spec
from sbt_bench.backends import parse_model_spec
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from sbt_bench.backends.paper_models import CATALOGUE
from sbt_bench.core.errors import SbtError
from tests.cli_runner import run_cli
from tests.released_layouts import write_llava_lora
from tests.tiny_models import build_tiny_llama


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI expecting exit 2 and one error line; that line."""
    capsys.readouterr()
    assert run_cli(*args) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("sbt-bench: error:")]
    assert len(lines) == 1
    return lines[0]


def test_list_models_shows_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    """Every entry is listed with its hub id and layout; unverified facts are marked."""
    assert run_cli("list", "--models") == 0
    out = capsys.readouterr().out
    for entry in CATALOGUE.values():
        assert f"sbt-paper:{entry.name} " in out
    assert "PahaII/MM-LLaMA-2-7B-chat-lora" in out and "openlm-research/open_llama_3b_v2" in out
    assert "unpinned" in out


def test_catalogue_entries_are_consistent() -> None:
    """Each released folder names a catalogue base; the README's hub id pattern holds."""
    released = [e for e in CATALOGUE.values() if e.layout != "base"]
    assert len(released) == 6 + 6 + 4  # projectors, fine-tunes, LoRA runs in the README
    for entry in released:
        assert entry.base in CATALOGUE
        assert entry.hub_id is not None and entry.hub_id.startswith("PahaII/MM-")
    assert {"llama2-7b", "llama2-chat-7b", "vicuna-7b", "open-llama-3b", "alpaca-3b"} <= set(
        CATALOGUE
    )
    assert CATALOGUE["vicuna-7b"].hub_id is None and "hub_id" in CATALOGUE["vicuna-7b"].unverified


def test_offline_name_is_one_line_naming_hub_id_and_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hub and no local copy: one line with the hub id and $SBT_PAPER_MODELS."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SBT_PAPER_MODELS", raising=False)
    line = error_line(
        capsys, "run", "--tasks", "truthfulqa_mc1", "--models", "sbt-paper:mm-llama2-7b-lora",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert "PahaII/MM-LLaMA-2-7B-lora" in line and "$SBT_PAPER_MODELS" in line


def test_leaderboard_runs_its_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --leaderboard sbt_paper_models` without --models resolves the spec's list."""
    spec = load_leaderboard_spec("sbt_paper_models")
    assert spec.models and all(m.removeprefix("sbt-paper:") in CATALOGUE for m in spec.models)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SBT_PAPER_MODELS", raising=False)
    line = error_line(
        capsys, "run", "--leaderboard", "sbt_paper_models", "--output-dir", str(tmp_path)
    )
    assert "meta-llama/Llama-2-7b-hf" in line  # the first model of the list


def test_projector_entry_is_not_scored() -> None:
    """A stage-1 projector points at `sbt-train finetune --projector-weights`."""
    with pytest.raises(SbtError, match="--projector-weights"):
        parse_model_spec("sbt-paper:mm-llama2-7b-projector")


def test_local_copies_resolve_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$SBT_PAPER_MODELS/<hub id> copies of the LoRA and its base load as-trained."""
    root = tmp_path / "models"
    base = build_tiny_llama(root / "meta-llama" / "Llama-2-7b-hf")
    lora = write_llava_lora(root / "PahaII" / "MM-LLaMA-2-7B-lora", base)
    monkeypatch.setenv("SBT_PAPER_MODELS", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = parse_model_spec("sbt-paper:mm-llama2-7b-lora")
    assert (spec.backend, spec.path, spec.lora_procedure) == ("hf", str(base), "as-trained")
    assert spec.adapter == str(root / "PahaII" / "MM-LLaMA-2-7B-lora")
    _, model = load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32)
    assert model.get_input_embeddings().weight.shape[0] == lora.vocab_size  # resized
    yaml = tmp_path / "harness.yaml"
    yaml.write_text("model: sbt-paper:mm-llama2-7b-lora\nlora_procedure: paper-harness\n")
    assert parse_model_spec(str(yaml)).lora_procedure == "paper-harness"
