"""`--projector-weights`: stage 2 starts from a released `mm_projector.bin` by LLaVA's rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlavaForConditionalGeneration

from sbt_train.cli import main
from tests.released_layouts import write_projector_folder


def stage1_rows(llava: Path) -> int:
    """Rows the stage-1 file has when its vocabulary matches stage 2's: the base's + 2."""
    return len(AutoTokenizer.from_pretrained(llava)) + 2


def run(*args: str) -> int:
    """`sbt-train *args`; its exit status."""
    try:
        return main(list(args))
    except SystemExit as done:
        return int(done.code or 0)


def assert_started_from(out: Path, file: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    """Projector = the file's; `<im_start>`/`<im_end>` input rows = its last two rows."""
    model = LlavaForConditionalGeneration.from_pretrained(out, dtype=torch.float32)
    projector = model.model.multi_modal_projector.linear_1
    torch.testing.assert_close(
        projector.weight, file["model.mm_projector.weight"], atol=atol, rtol=0
    )
    torch.testing.assert_close(projector.bias, file["model.mm_projector.bias"], atol=atol, rtol=0)
    vocab = AutoTokenizer.from_pretrained(out).get_vocab()
    rows = model.get_input_embeddings().weight[[vocab["<im_start>"], vocab["<im_end>"]]]
    torch.testing.assert_close(rows, file["model.embed_tokens.weight"][-2:], atol=atol, rtol=0)


def test_finetune_starts_from_the_projector_file(
    tiny_llava: Path, image_data: Path, tmp_path: Path
) -> None:
    """One step at learning rate 1e-9 (0 is refused): the model still holds the file's weights.

    Adam moves each weight by about the learning rate, so 1e-6 separates "started from the
    file" from "started elsewhere" (the tiny model's weights differ from the file's by ~0.1).
    """
    file = write_projector_folder(tmp_path / "mm-projector", 32, stage1_rows(tiny_llava))
    out = tmp_path / "stage2"
    code = run(
        "finetune", "--model", str(tiny_llava), "--data", str(image_data / "chat.json"),
        "--image-dir", str(image_data), "--output-dir", str(out), "--template", "vicuna_v1",
        "--max-steps", "1", "--learning-rate", "1e-9", "--batch-size", "2",
        "--projector-weights", str(tmp_path / "mm-projector"), "--set", "max_length=256",
    )  # fmt: skip
    assert code == 0
    assert_started_from(out, file, atol=1e-6)


def test_assemble_loads_the_projector_file(tiny_llava: Path, tmp_path: Path) -> None:
    """`assemble --projector-weights FILE` writes a model that starts from it."""
    root = tiny_llava.parent
    file = write_projector_folder(tmp_path / "p", 32, stage1_rows(tiny_llava))
    out = tmp_path / "assembled"
    code = run(
        "assemble", "--vision", str(root / "clip"), "--model", str(root / "llama"),
        "--output-dir", str(out), "--projector-weights", str(tmp_path / "p" / "mm_projector.bin"),
    )  # fmt: skip
    assert code == 0
    assert_started_from(out, file)


@pytest.mark.parametrize(
    ("extra_rows", "hidden", "mm_hidden", "needle"),
    [
        (1, 32, 16, "stage 1's template added [PAD]"),
        (0, 32, 24, "model.mm_projector.weight has shape (32, 24)"),
    ],
)
def test_misfit_projector_file_is_one_line(  # noqa: PLR0917 - parametrized
    tiny_llava: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra_rows: int,
    hidden: int,
    mm_hidden: int,
    needle: str,
) -> None:
    """A [PAD]-sized vocabulary (where LLaVA raises) or a wrong width: exit 2, one line."""
    rows = stage1_rows(tiny_llava) + extra_rows
    write_projector_folder(tmp_path / "p", hidden, rows, mm_hidden=mm_hidden)
    root = tiny_llava.parent
    capsys.readouterr()
    code = run(
        "assemble", "--vision", str(root / "clip"), "--model", str(root / "llama"),
        "--output-dir", str(tmp_path / "o"), "--projector-weights", str(tmp_path / "p"),
    )  # fmt: skip
    assert code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("sbt-train: error:")]
    assert len(err) == 1 and needle in err[0]


def test_lora_run_trains_embeddings_and_sbt_bench_loads_them(
    tiny_llava: Path, image_data: Path, tmp_path: Path
) -> None:
    """LoRA after --projector-weights trains embed_tokens/lm_head whole; sbt-bench loads them.

    They are saved as non_lora_trainables.bin and `llava:<base>+<out>` (as-trained) reads them.
    """
    from sbt_bench.backends import parse_model_spec
    from sbt_bench.backends.hf_loading import load_tokenizer_and_model

    write_projector_folder(tmp_path / "p", 32, stage1_rows(tiny_llava))
    out = tmp_path / "lora"
    code = run(
        "finetune", "--model", str(tiny_llava), "--data", str(image_data / "chat.json"),
        "--image-dir", str(image_data), "--output-dir", str(out), "--template", "vicuna_v1",
        "--max-steps", "2", "--learning-rate", "0.01", "--batch-size", "2", "--lora",
        "--lora-r", "4", "--projector-weights", str(tmp_path / "p"), "--set", "max_length=256",
        "--set", "warmup_ratio=0",
    )  # fmt: skip
    assert code == 0
    saved = torch.load(out / "non_lora_trainables.bin", weights_only=True)
    embed = saved["base_model.model.model.embed_tokens.weight"]
    start = LlavaForConditionalGeneration.from_pretrained(tiny_llava, dtype=torch.float32)
    rows = start.get_input_embeddings().weight.shape[0]
    assert embed.shape[0] == rows + 2
    assert not torch.allclose(embed[:rows], start.get_input_embeddings().weight)  # trained
    summary = json.loads((out / "train_summary.json").read_text())
    spec = parse_model_spec(summary["load_with"])
    assert spec.lora_procedure == "as-trained"
    _, model = load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32, with_images=True)
    assert torch.equal(model.get_input_embeddings().weight, embed)
    head = saved["base_model.model.lm_head.weight"]
    assert torch.equal(model.get_output_embeddings().weight, head)
