"""Convert an original-LLaVA checkpoint (the LLaVA repo layout the SBT paper released) to llava-hf.

The original layout is a LLaMA checkpoint whose `config.json` has `model_type: llava` and
`mm_*` keys, with the projector stored as `model.mm_projector.*` and the vision tower
referenced by hub id (`mm_vision_tower`). transformers' own converter script is not shipped
in its wheel, so this does the same mapping: LLaMA weights into the language model, the
projector into `multi_modal_projector`, the CLIP tower from `--vision-tower` (or the hub).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json
from sbt_train.model.llava_hf import (
    ProjectorKind,
    build_llava,
    load_image_processor,
    load_llava_projector,
    save_llava,
)
from sbt_train.model.pretrained import load_pretrained
from sbt_train.templates import IMAGE_PLACEHOLDER, chat_template_for, get_template

_PROJECTOR = "model.mm_projector."
_TOWER = "model.vision_tower."
# ZeRO-2 runs saved the (frozen) CLIP tower inside the checkpoint under this prefix; its
# config and image processor still come from `mm_vision_tower`.
_SAVED_TOWER = "model.vision_tower.vision_tower."
# transformers 4.31 saved each layer's rotary `inv_freq` buffer; later versions recompute it.
_DROPPED_BUFFER = "rotary_emb.inv_freq"
_CLIP_PREFIX = "vision_model."  # how transformers 4.31's CLIPVisionModel named its weights
# Keys of the original config that describe the multimodal wrapper, not the LLaMA inside.
_NOT_TEXT = ("architectures", "model_type", "auto_map", "torch_dtype", "transformers_version")


@dataclass(frozen=True, slots=True)
class ConvertConfig:
    """Inputs of `convert_original_llava`.

    Attributes:
        source: the original checkpoint folder (config.json, weights, tokenizer).
        output_dir: where the llava-hf checkpoint goes.
        vision: CLIP vision tower folder or hub id (default: the config's `mm_vision_tower`).
        template: the conversation template the checkpoint was tuned with (its chat template).
    """

    source: Path
    output_dir: Path
    vision: str | None = None
    template: str = "v0"


def convert_original_llava(cfg: ConvertConfig) -> Path:
    """Write the llava-hf equivalent of an original-LLaVA checkpoint; returns its folder."""
    from transformers import AutoTokenizer, CLIPVisionModel  # noqa: PLC0415 - heavy

    raw = _read_config(cfg.source)
    state = load_weights(cfg.source)
    kind = _projector_kind(raw, cfg.source)
    vision_source = cfg.vision or raw.get("mm_vision_tower")
    if not vision_source:
        raise SbtError(f"{cfg.source}: config names no mm_vision_tower; pass --vision-tower DIR")
    hint = f" (offline? pass --vision-tower DIR for {vision_source})"
    vision = load_pretrained(CLIPVisionModel.from_pretrained, vision_source, "CLIP tower" + hint)
    _load_saved_tower(vision, state, cfg.source)
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, cfg.source, "tokenizer")
    lm = _language_model(raw, state, cfg.source)
    # LLaVA's "patch" drops CLIP's CLS feature, which is llava-hf's "default" strategy.
    strategy: Literal["default", "full"] = (
        "full" if raw.get("mm_vision_select_feature") == "cls_patch" else "default"
    )
    layer = int(raw.get("mm_vision_select_layer", -2))
    model = build_llava(vision, tokenizer, lm, kind, feature_layer=layer, select_strategy=strategy)
    load_llava_projector(model, state, kind, f"{cfg.source}:")
    image = IMAGE_PLACEHOLDER
    if raw.get("mm_use_im_start_end"):
        image = f"<im_start>{IMAGE_PLACEHOLDER}<im_end>"
    template = chat_template_for(get_template(cfg.template), image=image)
    processor = load_image_processor(Path(vision_source))
    patch = vision.config.patch_size
    save_llava(
        model, tokenizer, processor, cfg.output_dir, patch_size=patch, chat_template=template
    )
    return cfg.output_dir


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint folder (safetensors or PyTorch .bin shards), merged."""
    from safetensors.torch import load_file  # noqa: PLC0415

    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise SbtError(f"{folder}: no *.safetensors or pytorch_model*.bin weights found")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        if path.suffix == ".safetensors":
            state |= load_file(str(path))
        else:
            state |= torch.load(path, map_location="cpu", weights_only=True)
    return state


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise SbtError(f"{path}: cannot read the checkpoint config (no such file)")
    raw = read_json(path)
    if not isinstance(raw, dict) or not any(k.startswith("mm_") for k in raw):
        raise SbtError(f"{path}: no mm_* keys; this is not an original-LLaVA checkpoint")
    return dict(raw)


def _projector_kind(raw: dict[str, Any], folder: Path) -> ProjectorKind:
    name = raw.get("mm_projector_type", "linear")  # LLaVA v0/v1.0 configs predate the key
    try:
        return ProjectorKind(name)
    except ValueError:
        raise SbtError(
            f"{folder}: projector type {name!r} is not supported (linear, mlp2x_gelu)"
        ) from None


def _language_model(raw: dict[str, Any], state: dict[str, torch.Tensor], folder: Path) -> Any:
    """The LLaMA inside the checkpoint, as a LlamaForCausalLM."""
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415 - heavy

    text = {k: v for k, v in raw.items() if not k.startswith("mm_") and k not in _NOT_TEXT}
    lm = LlamaForCausalLM(LlamaConfig(**text))
    weights = {
        k: v
        for k, v in state.items()
        if not k.startswith((_PROJECTOR, _TOWER)) and not k.endswith(_DROPPED_BUFFER)
    }
    missing, unexpected = lm.load_state_dict(weights, strict=False)
    missing = [k for k in missing if "rotary_emb" not in k]
    if missing or unexpected:
        raise SbtError(
            f"{folder}: weights do not fit a LLaMA of this config "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return lm


def _load_saved_tower(vision: Any, state: dict[str, torch.Tensor], folder: Path) -> None:
    """Load the tower weights the checkpoint itself holds, if any, into `vision`."""
    saved = {
        k.removeprefix(_SAVED_TOWER): v for k, v in state.items() if k.startswith(_SAVED_TOWER)
    }
    if not saved:
        return
    own = vision.state_dict()
    if not any(k.startswith(_CLIP_PREFIX) for k in own):  # transformers 5 drops the prefix
        saved = {k.removeprefix(_CLIP_PREFIX): v for k, v in saved.items()}
    saved = {k: v for k, v in saved.items() if not k.endswith("position_ids")}
    missing = sorted(k for k in set(own) - set(saved) if not k.endswith("position_ids"))
    unexpected = sorted(set(saved) - set(own))
    wrong = [k for k in sorted(set(saved) & set(own)) if saved[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise SbtError(
            f"{folder}: its saved vision tower ({_SAVED_TOWER}*) does not fit the CLIP tower "
            f"named by mm_vision_tower (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"other shape {wrong[:3]}); give the tower it was trained with"
        )
    vision.load_state_dict(saved, strict=False)
