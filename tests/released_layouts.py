"""Tiny checkpoints written in the exact layouts the Sight-Beyond-Text paper released.

Pickled bf16 `.bin` files (torch.save), LLaVA's key names, the old 12-key peft adapter
config, `non_lora_trainables.bin` and a `config.json` with `mm_*` keys (see
../shared/reference/released-checkpoints.md). Each builder also returns the tensors it
wrote, so tests can compute expected numbers by the loading procedure itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADDED_TOKENS = ("<im_patch>", "<im_start>", "<im_end>")
MM_HIDDEN = 16  # the tiny CLIP's width (tests/tiny_models.build_tiny_clip)


@dataclass(frozen=True)
class LoraFixture:
    """A LLaVA-layout LoRA folder and what it holds (tensors as written, bf16).

    Attributes:
        folder: the adapter folder.
        lora: adapter tensors under their saved names.
        non_lora: `non_lora_trainables.bin` under its saved names (empty: text-only run).
        r: LoRA rank; alpha: LoRA alpha.
        vocab_size: the trained vocabulary (`config.json`).
    """

    folder: Path
    lora: dict[str, torch.Tensor]
    non_lora: dict[str, torch.Tensor]
    r: int
    alpha: int
    vocab_size: int


def _module_shapes(config: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(out, in) of each LoRA target in a LLaMA layer."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    head = hidden // config["num_attention_heads"]
    kv = head * config.get("num_key_value_heads", config["num_attention_heads"])
    return {
        "q_proj": (hidden, hidden),
        "k_proj": (kv, hidden),
        "v_proj": (kv, hidden),
        "o_proj": (hidden, hidden),
        "gate_proj": (inter, hidden),
        "up_proj": (inter, hidden),
        "down_proj": (hidden, inter),
    }


def lora_key(layer: int, module: str, part: str) -> str:
    """The released adapter key of one LoRA matrix (`part`: A or B)."""
    group = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
    return f"base_model.model.model.layers.{layer}.{group}.{module}.lora_{part}.weight"


def write_llava_lora(
    folder: Path,
    base_dir: Path,
    *,
    r: int = 4,
    alpha: int = 16,
    seed: int = 1,
    text_only: bool = False,
) -> LoraFixture:
    """A `MM-*-lora` folder for the LLaMA in `base_dir` (or a text-only run's, `text_only`)."""
    config = json.loads((base_dir / "config.json").read_text())
    gen = torch.Generator().manual_seed(seed)
    lora: dict[str, torch.Tensor] = {}
    for layer in range(config["num_hidden_layers"]):
        for module, (out, inp) in _module_shapes(config).items():
            lora[lora_key(layer, module, "A")] = torch.randn(r, inp, generator=gen) * 0.3
            lora[lora_key(layer, module, "B")] = torch.randn(out, r, generator=gen) * 0.3
    lora = {k: v.to(torch.bfloat16) for k, v in lora.items()}
    folder.mkdir(parents=True)
    torch.save(lora, folder / "adapter_model.bin")
    adapter_config = {
        "base_model_name_or_path": str(base_dir),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": alpha,
        "lora_dropout": 0.05,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": r,
        "target_modules": list(LORA_TARGETS),
        "task_type": "CAUSAL_LM",
    }
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    vocab = config["vocab_size"] + (0 if text_only else len(ADDED_TOKENS))
    non_lora: dict[str, torch.Tensor] = {}
    if not text_only:
        hidden = config["hidden_size"]
        non_lora = {
            "base_model.model.model.embed_tokens.weight": torch.randn(vocab, hidden, generator=gen),
            "base_model.model.lm_head.weight": torch.randn(vocab, hidden, generator=gen),
            "base_model.model.model.mm_projector.weight": torch.randn(
                hidden, MM_HIDDEN, generator=gen
            ),
            "base_model.model.model.mm_projector.bias": torch.randn(hidden, generator=gen),
        }
        non_lora = {k: v.to(torch.bfloat16) for k, v in non_lora.items()}
        config |= llava_config_keys(vocab)
    torch.save(non_lora, folder / "non_lora_trainables.bin")
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    return LoraFixture(folder, lora, non_lora, r, alpha, vocab)


def llava_config_keys(vocab: int) -> dict[str, object]:
    """The keys LLaVA's training adds to the LLaMA config of a stage-2 run."""
    return {
        "architectures": ["LlavaLlamaForCausalLM"],
        "model_type": "llava",
        "vocab_size": vocab,
        "mm_vision_tower": "openai/clip-vit-large-patch14",
        "mm_hidden_size": MM_HIDDEN,
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "mm_use_im_start_end": True,
        "mm_use_im_patch_token": True,
        "use_mm_proj": True,
        "tune_mm_mlp_adapter": False,
        "image_aspect_ratio": "square",
    }


def merge_lora_by_hand(
    model: torch.nn.Module, fixture: LoraFixture, prefix: str = "model."
) -> None:
    """W += (alpha / r) B A for every LoRA pair, in float32 (the reference for a merge)."""
    params = dict(model.named_parameters())
    scale = fixture.alpha / fixture.r
    with torch.no_grad():
        for key, a in fixture.lora.items():
            if ".lora_A." not in key:
                continue
            b = fixture.lora[key.replace(".lora_A.", ".lora_B.")]
            target = key.removeprefix("base_model.model.model.").replace(
                ".lora_A.weight", ".weight"
            )
            params[prefix + target] += scale * (b.float() @ a.float())
