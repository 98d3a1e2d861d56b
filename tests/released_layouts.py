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
    folder.mkdir(parents=True, exist_ok=True)
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


@dataclass(frozen=True)
class FullFixture:
    """A `MM-*-ft` folder (original LLaVA layout) and the float32 tensors it was written from.

    Attributes:
        folder: the checkpoint folder (3 pickled bf16 shards, index, config, tokenizer).
        state: every tensor written, by its saved name (float32 before the bf16 cast).
    """

    folder: Path
    state: dict[str, torch.Tensor]


def write_original_llava_full(
    folder: Path, llama_dir: Path, clip_dir: Path, *, tower_inside: bool = True, seed: int = 2
) -> FullFixture:
    """The tiny LLaMA + projector (+ CLIP tower) saved as LLaVA 1.0.1 on transformers 4.31 did.

    The three image tokens are added to the tokenizer and the vocabulary; each layer carries
    its `rotary_emb.inv_freq` buffer; the tower sits under `model.vision_tower.vision_tower.`.
    """
    from transformers import AutoTokenizer, CLIPVisionModel, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    tokenizer.add_tokens(list(ADDED_TOKENS), special_tokens=True)
    lm = LlamaForCausalLM.from_pretrained(llama_dir, dtype=torch.float32)
    lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    config = lm.config
    gen = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in lm.state_dict().items()}
    for key in ("model.embed_tokens.weight", "lm_head.weight"):  # trained rows, new ones too
        state[key] = torch.randn(state[key].shape, generator=gen)
    head_dim = config.hidden_size // config.num_attention_heads
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    for layer in range(config.num_hidden_layers):
        state[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = inv_freq
    state["model.mm_projector.weight"] = torch.randn(config.hidden_size, MM_HIDDEN, generator=gen)
    state["model.mm_projector.bias"] = torch.randn(config.hidden_size, generator=gen)
    if tower_inside:
        tower = CLIPVisionModel.from_pretrained(clip_dir).state_dict()
        for key, value in tower.items():
            if not key.endswith("position_ids"):
                noisy = value + 0.01 * torch.randn(value.shape, generator=gen)
                # transformers 4.31's CLIPVisionModel named its weights `vision_model.*`.
                name = key if key.startswith("vision_model.") else f"vision_model.{key}"
                state[f"model.vision_tower.vision_tower.{name}"] = noisy
    folder.mkdir(parents=True, exist_ok=True)
    _save_shards({k: v.to(torch.bfloat16) for k, v in state.items()}, folder, n_shards=3)
    raw = json.loads(config.to_json_string())
    raw |= llava_config_keys(len(tokenizer))
    raw |= {"model_type": "llama", "tune_mm_mlp_adapter": False}  # the hub tags MM-*-ft llama
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    tokenizer.save_pretrained(folder)
    rounded = {k: v.to(torch.bfloat16).float() for k, v in state.items()}
    return FullFixture(folder, rounded)


def _save_shards(state: dict[str, torch.Tensor], folder: Path, n_shards: int) -> None:
    """`pytorch_model-0000i-of-0000n.bin` files and the index that maps keys to them."""
    keys = sorted(state)
    weight_map: dict[str, str] = {}
    for i in range(n_shards):
        name = f"pytorch_model-{i + 1:05d}-of-{n_shards:05d}.bin"
        chunk = keys[i::n_shards]
        torch.save({k: state[k] for k in chunk}, folder / name)
        weight_map |= dict.fromkeys(chunk, name)
    total = sum(v.numel() * v.element_size() for v in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))


def write_projector_folder(
    folder: Path, hidden: int, rows: int, *, mm_hidden: int = MM_HIDDEN, seed: int = 3
) -> dict[str, torch.Tensor]:
    """A `MM-*-projector` folder: `mm_projector.bin` (projector + embed_tokens), config, state.

    `rows` is the stage-1 vocabulary (LLaMA + `<im_patch>`, `<im_start>`, `<im_end>`, and
    `[PAD]` first when stage 1 ran `--version v0`). Returns the tensors (float32) written.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {
        "model.mm_projector.weight": torch.randn(hidden, mm_hidden, generator=gen),
        "model.mm_projector.bias": torch.randn(hidden, generator=gen),
        "model.embed_tokens.weight": torch.randn(rows, hidden, generator=gen),
    }
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "mm_projector.bin")  # fp32, as the 7B-chat projector
    config = llava_config_keys(rows) | {"hidden_size": hidden, "tune_mm_mlp_adapter": True}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    return state


def write_all(root: Path) -> None:
    """Every released layout, tiny, under `root` (the docs' commands run against these).

    `$root/models` is laid out as `$SBT_PAPER_MODELS` expects (hub ids as folders).
    """
    from transformers import AutoTokenizer

    from tests.tiny_models import build_tiny_clip, build_tiny_llama, build_tiny_llava

    models = root / "models"
    llava = build_tiny_llava(root / "llava-base")  # tiny CLIP + LLaMA + linear projector
    base = build_tiny_llama(models / "meta-llama" / "Llama-2-7b-hf")
    clip = build_tiny_clip(models / "openai" / "clip-vit-large-patch14")
    write_llava_lora(models / "PahaII" / "MM-LLaMA-2-7B-lora", base)
    write_original_llava_full(models / "PahaII" / "MM-LLaMA-2-7B-ft", base, clip)
    rows = len(AutoTokenizer.from_pretrained(llava)) + 2
    write_projector_folder(models / "PahaII" / "MM-LLaMA-2-7B-projector", 32, rows)
    (root / "ft.yaml").write_text(
        f"model: llava:{models / 'PahaII' / 'MM-LLaMA-2-7B-ft'}\nvision_tower: {clip}\n"
    )


if __name__ == "__main__":
    import sys

    write_all(Path(sys.argv[1]))
