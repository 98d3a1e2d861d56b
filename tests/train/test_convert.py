"""`sbt-bench convert-llava`: an original-LLaVA checkpoint becomes an equivalent llava-hf one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration

from sbt_bench.cli import main
from tests.tiny_models import build_tiny_llama
from tests.train.tiny import build_tiny_clip


def write_original_llava(
    root: Path,
) -> tuple[Path, Path, LlamaForCausalLM, dict[str, torch.Tensor]]:
    """A tiny checkpoint in the LLaVA repo layout: LLaMA keys + model.mm_projector, mm_* config."""
    llama_dir = build_tiny_llama(root / "llama")
    clip = build_tiny_clip(root / "clip")
    lm = LlamaForCausalLM.from_pretrained(llama_dir)
    torch.manual_seed(1)
    projector = {
        "model.mm_projector.weight": torch.randn(lm.config.hidden_size, 16),
        "model.mm_projector.bias": torch.randn(lm.config.hidden_size),
    }
    source = root / "original"
    source.mkdir()
    weights = {k: v.contiguous() for k, v in lm.state_dict().items()} | projector
    save_file(weights, str(source / "model.safetensors"))
    config = json.loads((llama_dir / "config.json").read_text())
    config |= {
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava",
        "mm_vision_tower": "openai/clip-vit-large-patch14",
        "mm_hidden_size": 16,
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "mm_use_im_start_end": False,
    }
    (source / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(llama_dir / name, source / name)
    return source, clip, lm, projector


def test_converted_checkpoint_keeps_the_llm_and_projector(tmp_path: Path) -> None:
    """Text logits equal the original LLaMA's; the projector applies the original Linear."""
    source, clip, lm, projector = write_original_llava(tmp_path)
    out = tmp_path / "hf"
    with pytest.raises(SystemExit) as done:
        main(["convert-llava", str(source), str(out), "--vision-tower", str(clip)])
    assert done.value.code == 0
    model = LlavaForConditionalGeneration.from_pretrained(out).eval()
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        # The converted vocabulary has one more row, the added <image> token.
        logits = model(input_ids=ids).logits[..., : lm.config.vocab_size]
        assert torch.allclose(logits, lm(input_ids=ids).logits, atol=1e-6)
        features = torch.randn(2, 4, 16)
        expected = features @ projector["model.mm_projector.weight"].T
        expected += projector["model.mm_projector.bias"]
        got = model.model.multi_modal_projector(features)
    assert torch.allclose(got, expected, atol=1e-5)
    assert model.config.vision_feature_layer == -2
    template = (out / "chat_template.jinja").read_text()
    assert "### Human: " in template  # v0, the template the conversion was told


def test_offline_vision_tower_error_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --vision-tower and no hub, one line says to pass it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on the machines here, without the retries
    source, _, _, _ = write_original_llava(tmp_path)
    capsys.readouterr()  # building the fixture prints progress bars
    with pytest.raises(SystemExit) as done:
        main(["convert-llava", str(source), str(tmp_path / "hf")])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--vision-tower" in err[0]
