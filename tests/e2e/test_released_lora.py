"""The paper's LLaVA-layout LoRA folders score as LLaVA built them, or as the 2023 harness did.

Fixtures are tiny LLaMAs with LoRA folders in the released layout (tests/released_layouts.py);
the expected numbers come from models built here by hand, by each procedure.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaForCausalLM

from sbt_bench.backends import parse_model_spec
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from tests.cli_runner import results_of, run_cli, tiny_run_args
from tests.released_layouts import LoraFixture, merge_lora_by_hand, write_llava_lora
from tests.tiny_models import build_tiny_llama

TASK = "truthfulqa_mc1"
N_ITEMS = 3


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LLaMA the LoRA was trained on."""
    return build_tiny_llama(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def lora(base: Path, tmp_path_factory: pytest.TempPathFactory) -> LoraFixture:
    """A multimodal `MM-*-lora` folder (vocabulary + 3 tokens, projector, embeddings, head)."""
    return write_llava_lora(tmp_path_factory.mktemp("lora") / "mm-lora", base)


def save_reference(model: LlamaForCausalLM, base: Path, folder: Path) -> Path:
    """The hand-built model beside the base's tokenizer, as a plain checkpoint."""
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base / name, folder / name)
    return folder


def as_trained_by_hand(base: Path, fixture: LoraFixture, folder: Path) -> Path:
    """LLaVA's builder.py: resize to the LoRA config's vocabulary, load the trained rows, merge."""
    model = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.resize_token_embeddings(fixture.vocab_size, mean_resizing=False)
    trained = fixture.non_lora
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(trained["base_model.model.model.embed_tokens.weight"])
        model.lm_head.weight.copy_(trained["base_model.model.lm_head.weight"])
    merge_lora_by_hand(model, fixture)
    return save_reference(model, base, folder)


def harness_by_hand(base: Path, fixture: LoraFixture, folder: Path) -> Path:
    """The 2023 harness: the LoRA deltas on the unresized base, nothing else."""
    model = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
    merge_lora_by_hand(model, fixture)
    return save_reference(model, base, folder)


def loglikelihoods(out: Path) -> list[float]:
    """Every per-choice log-likelihood of the run's samples file, in item order."""
    (samples,) = out.glob(f"*/samples_{TASK}.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    return [value for row in rows for value in row["loglikelihoods"]]


def run_model(model: str, data_dir: Path, out: Path, *extra: str) -> dict[str, Any]:
    """Run TruthfulQA MC1 on the first items; the results.json model record."""
    args = tiny_run_args(Path("unused"), data_dir, out, TASK, N_ITEMS, *extra)
    args[args.index("--models") + 1] = model
    assert run_cli(*args) == 0
    return results_of(out)["model"]  # type: ignore[no-any-return]


def test_each_procedure_equals_its_hand_built_reference(
    base: Path, lora: LoraFixture, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """as-trained and paper-harness match their references to 1e-5, differ, and are recorded."""
    spec = f"hf:{base}+{lora.folder}"
    trained = run_model(spec, data_dir, tmp_path / "trained")
    with caplog.at_level(logging.WARNING):
        harness = run_model(
            spec, data_dir, tmp_path / "harness", "--lora-procedure", "paper-harness"
        )
    assert "paper-harness: ignoring the 4 tensors of non_lora_trainables.bin" in caplog.text
    assert trained["lora_procedure"] == "as-trained"
    assert harness["lora_procedure"] == "paper-harness"
    assert trained["fingerprint"] != harness["fingerprint"]
    ref_trained = as_trained_by_hand(base, lora, tmp_path / "ref-trained")
    ref_harness = harness_by_hand(base, lora, tmp_path / "ref-harness")
    run_model(f"hf:{ref_trained}", data_dir, tmp_path / "ref-trained-out")
    run_model(f"hf:{ref_harness}", data_dir, tmp_path / "ref-harness-out")
    got_t, want_t = (
        loglikelihoods(tmp_path / "trained"),
        loglikelihoods(tmp_path / "ref-trained-out"),
    )
    got_h, want_h = (
        loglikelihoods(tmp_path / "harness"),
        loglikelihoods(tmp_path / "ref-harness-out"),
    )
    assert len(got_t) == len(want_t) > N_ITEMS
    assert torch.allclose(torch.tensor(got_t), torch.tensor(want_t), rtol=1e-5, atol=1e-5)
    assert torch.allclose(torch.tensor(got_h), torch.tensor(want_h), rtol=1e-5, atol=1e-5)
    assert max(abs(a - b) for a, b in zip(got_t, got_h, strict=True)) > 1.0


def test_model_yaml_chooses_the_procedure(base: Path, lora: LoraFixture, tmp_path: Path) -> None:
    """`lora_procedure: paper-harness` in a model YAML reaches the spec; a typo is refused."""
    path = tmp_path / "mm.yaml"
    path.write_text(f"model: hf:{base}+{lora.folder}\nlora_procedure: paper-harness\n")
    assert parse_model_spec(str(path)).lora_procedure == "paper-harness"
    path.write_text(f"model: hf:{base}+{lora.folder}\nlora_procedure: as-built\n")
    with pytest.raises(Exception, match="lora_procedure must be one of"):
        parse_model_spec(str(path))


def test_text_only_lora_equals_a_plain_peft_adapter(base: Path, tmp_path: Path) -> None:
    """An empty non_lora_trainables.bin and a plain config: the same logits as peft's own load."""
    from peft import PeftModel

    fixture = write_llava_lora(tmp_path / "text-lora", base, text_only=True)
    _, ours = load_tokenizer_and_model(
        parse_model_spec(f"hf:{base}+{fixture.folder}"), torch.device("cpu"), torch.float32
    )
    plain = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
    theirs = PeftModel.from_pretrained(plain, str(fixture.folder)).eval()
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        assert torch.allclose(ours(input_ids=ids).logits, theirs(input_ids=ids).logits, atol=1e-5)
        untouched = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
        assert not torch.allclose(ours(input_ids=ids).logits, untouched(input_ids=ids).logits)


def one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI, expecting exit status 2 and exactly one error line; that line."""
    capsys.readouterr()
    assert run_cli(*args) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("sbt-bench: error:")]
    assert len(lines) == 1
    return lines[0]


def run_args(model: str, data_dir: Path, out: Path) -> list[str]:
    """`run` arguments for `model` on one TruthfulQA item."""
    args = tiny_run_args(Path("unused"), data_dir, out, TASK, 1)
    args[args.index("--models") + 1] = model
    return args


def test_lora_folder_without_its_base_is_one_line(
    lora: LoraFixture, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hf:<lora dir>` alone names the missing base and the `+` form."""
    line = one_error_line(capsys, *run_args(f"hf:{lora.folder}", data_dir, tmp_path))
    assert "LoRA adapter folder without its base" in line
    assert f"+{lora.folder}" in line


def test_lora_whose_rank_does_not_match_its_tensors_is_refused(
    base: Path,
    lora: LoraFixture,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An adapter_config r of 8 over rank-4 tensors stops with the first misfit key."""
    bad = tmp_path / "bad-r"
    shutil.copytree(lora.folder, bad)
    config = json.loads((bad / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps(config | {"r": 8}))
    line = one_error_line(capsys, *run_args(f"hf:{base}+{bad}", data_dir, tmp_path / "o"))
    assert "wrong shape" in line and "lora_A" in line and "is r in adapter_config.json" in line


def test_lora_for_another_width_is_refused(
    lora: LoraFixture, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base twice as wide as the adapter's: one line under either procedure."""
    from tests.tiny_models import build_tokenizer

    wide = tmp_path / "wide"
    tokenizer = build_tokenizer()
    config = LlamaForCausalLM.config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(config).save_pretrained(wide)
    tokenizer.save_pretrained(wide)
    args = run_args(f"hf:{wide}+{lora.folder}", data_dir, tmp_path / "o")
    line = one_error_line(capsys, *args)  # as-trained: the trained embeddings misfit first
    assert "non_lora_trainables.bin" in line and "(400, 32), the base (400, 64)" in line
    line = one_error_line(capsys, *args, "--lora-procedure", "paper-harness")
    assert "wrong shape" in line and "lora_A" in line


def test_adapter_whose_keys_miss_the_model_is_refused(
    base: Path,
    lora: LoraFixture,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Keys under another module path (peft would warn once and change nothing) stop the run."""
    bad = tmp_path / "renamed"
    shutil.copytree(lora.folder, bad)
    renamed = {k.replace(".layers.", ".blocks."): v for k, v in lora.lora.items()}
    torch.save(renamed, bad / "adapter_model.bin")
    line = one_error_line(capsys, *run_args(f"hf:{base}+{bad}", data_dir, tmp_path / "o"))
    assert "match no module" in line and ".blocks." in line
