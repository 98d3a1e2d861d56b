"""`llava:<llava-hf base>+<MM-*-lora>` (adapters.py): the LoRA lands on the LLM, or stops.

The base is `sbt-train assemble`'s tiny llava (tiny CLIP + the tiny LLaMA the LoRA was
trained on, one Linear projector); the LoRA folder is in the released layout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration

from sbt_bench.backends import parse_model_spec
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from sbt_bench.core.errors import SbtError
from tests.released_layouts import LoraFixture, merge_lora_by_hand, write_llava_lora
from tests.tiny_models import build_tiny_llava

IDS = torch.tensor([[1, 5, 9, 42, 7, 3]])


@pytest.fixture(scope="module")
def llava_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llava-hf base; its LLaMA is at ../llama."""
    return build_tiny_llava(tmp_path_factory.mktemp("llava"))


@pytest.fixture(scope="module")
def lora(llava_base: Path, tmp_path_factory: pytest.TempPathFactory) -> LoraFixture:
    """A multimodal LoRA folder trained (here: written) on the base's LLaMA."""
    return write_llava_lora(
        tmp_path_factory.mktemp("lora") / "mm-lora", llava_base.parent / "llama"
    )


def load_both(spec_text: str) -> tuple[Any, Any]:
    """The llava backend's processor and model for a spec (float32, CPU)."""
    spec = parse_model_spec(spec_text)
    return load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32, with_images=True)


def load(spec_text: str) -> Any:
    """The llava backend's model for a spec (float32, CPU)."""
    return load_both(spec_text)[1]


def test_as_trained_lora_scores_the_trained_language_model(
    llava_base: Path, lora: LoraFixture
) -> None:
    """Text logits equal LLaVA's as-trained LLaMA; the projector is trained; CLIP untouched."""
    processor, model = load_both(f"llava:{llava_base}+{lora.folder}")
    vocab = processor.tokenizer.get_vocab()  # LLaVA's ids: the trained vocabulary's last two
    assert [vocab["<im_start>"], vocab["<im_end>"]] == [lora.vocab_size - 2, lora.vocab_size - 1]
    base = LlavaForConditionalGeneration.from_pretrained(llava_base, dtype=torch.float32).eval()
    reference = LlamaForCausalLM.from_pretrained(llava_base.parent / "llama", dtype=torch.float32)
    reference.resize_token_embeddings(lora.vocab_size, mean_resizing=False)
    with torch.no_grad():
        reference.model.embed_tokens.weight.copy_(
            lora.non_lora["base_model.model.model.embed_tokens.weight"]
        )
        reference.lm_head.weight.copy_(lora.non_lora["base_model.model.lm_head.weight"])
    merge_lora_by_hand(reference, lora)
    with torch.no_grad():
        got = model(input_ids=IDS).logits
        assert torch.allclose(got, reference(input_ids=IDS).logits, atol=1e-5)
        assert got.shape[-1] == lora.vocab_size
        base_logits = base(input_ids=IDS).logits
        assert not torch.allclose(got[..., : base_logits.shape[-1]], base_logits)
    projector = model.model.multi_modal_projector
    trained = lora.non_lora["base_model.model.model.mm_projector.weight"].float()
    assert torch.equal(projector.linear_1.weight, trained)
    features = torch.randn(3, 16)
    expected = features @ trained.T + lora.non_lora["base_model.model.model.mm_projector.bias"]
    assert torch.allclose(projector(features), expected.float(), atol=1e-5)
    for key, value in base.model.vision_tower.state_dict().items():
        assert torch.equal(model.model.vision_tower.state_dict()[key], value)


def test_paper_harness_on_llava_keeps_the_base_projector(
    llava_base: Path, lora: LoraFixture
) -> None:
    """paper-harness: LoRA merged into the language model; vocabulary and projector unchanged."""
    path = llava_base.parent / "harness.yaml"
    path.write_text(f"model: llava:{llava_base}+{lora.folder}\nlora_procedure: paper-harness\n")
    model = load(str(path))
    base = LlavaForConditionalGeneration.from_pretrained(llava_base, dtype=torch.float32)
    rows = base.get_input_embeddings().weight.shape[0]
    assert model.get_input_embeddings().weight.shape[0] == rows < lora.vocab_size
    assert torch.equal(
        model.model.multi_modal_projector.linear_1.weight,
        base.model.multi_modal_projector.linear_1.weight,
    )
    q_proj = "layers.0.self_attn.q_proj.weight"
    assert not torch.equal(
        model.model.language_model.state_dict()[q_proj],
        base.model.language_model.state_dict()[q_proj],
    )


def test_adapter_whose_keys_miss_the_llava_model_is_refused(
    llava_base: Path, lora: LoraFixture, tmp_path: Path
) -> None:
    """A LoRA for a deeper LLaMA (a layer the base lacks): refused, not half-applied."""
    bad = tmp_path / "deeper"
    shutil.copytree(lora.folder, bad)
    extra = {
        k.replace("layers.1.", "layers.7."): v for k, v in lora.lora.items() if "layers.1." in k
    }
    torch.save(lora.lora | extra, bad / "adapter_model.bin")
    with pytest.raises(SbtError, match=r"match no module .*layers\.7\."):
        load(f"llava:{llava_base}+{bad}")


def test_projector_of_another_width_is_one_line(
    llava_base: Path, lora: LoraFixture, tmp_path: Path
) -> None:
    """A projector trained for a wider vision tower names the tensor and both shapes."""
    bad = tmp_path / "wide-projector"
    shutil.copytree(lora.folder, bad)
    tensors = dict(lora.non_lora)
    tensors["base_model.model.model.mm_projector.weight"] = torch.zeros(
        32, 24, dtype=torch.bfloat16
    )
    torch.save(tensors, bad / "non_lora_trainables.bin")
    with pytest.raises(SbtError) as err:
        load(f"llava:{llava_base}+{bad}")
    assert "multi_modal_projector.linear_1.weight has shape (32, 24), the base (32, 16)" in str(
        err.value
    )
    assert "\n" not in str(err.value)


def test_two_layer_projector_base_is_refused(lora: LoraFixture, tmp_path: Path) -> None:
    """A llava base whose projector is two GELU layers cannot hold the paper's one Linear."""
    from sbt_train.model.llava_hf import ProjectorKind

    base = build_tiny_llava(tmp_path, ProjectorKind.MLP2X_GELU)
    config = json.loads((lora.folder / "adapter_config.json").read_text())
    assert config["r"] == lora.r
    with pytest.raises(SbtError, match="projector is one Linear layer"):
        load(f"llava:{base}+{lora.folder}")
