"""The llava-hf model and processor that `assemble` and `convert-llava` write.

Kept apart from the stage loaders (loading.py, which use sbt_bench's model loaders) so that
sbt_bench's llava backend can convert an original-LLaVA checkpoint through convert.py
without an import cycle.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Literal

import torch

from sbt_bench.core.errors import SbtError
from sbt_train.model.pretrained import load_pretrained
from sbt_train.templates import IMAGE_PLACEHOLDER


class ProjectorKind(Enum):
    """LLaVA-v1/SBT used one Linear; LLaVA-1.5 a two-layer MLP with GELU."""

    LINEAR = "linear"
    MLP2X_GELU = "mlp2x_gelu"


# LLaVA's projector parameters (`model.mm_projector.<name>`) -> llava-hf's, per projector type.
PROJECTOR_KEYS = {
    ProjectorKind.LINEAR: {"weight": "linear_1.weight", "bias": "linear_1.bias"},
    ProjectorKind.MLP2X_GELU: {
        "0.weight": "linear_1.weight",
        "0.bias": "linear_1.bias",
        "2.weight": "linear_2.weight",
        "2.bias": "linear_2.bias",
    },
}
LLAVA_PROJECTOR = "model.mm_projector."


def load_llava_projector(
    model: Any, state: dict[str, torch.Tensor], kind: ProjectorKind, where: str
) -> None:
    """Copy LLaVA's `model.mm_projector.*` tensors of `state` into the llava-hf projector.

    Every tensor must be there with the projector's shape (`where` names the file in errors).
    """
    target = model.model.multi_modal_projector.state_dict()
    for source, name in PROJECTOR_KEYS[kind].items():
        key = LLAVA_PROJECTOR + source
        if key not in state:
            raise SbtError(f"{where} projector weight {key} is missing")
        if state[key].shape != target[name].shape:
            raise SbtError(
                f"{where} {key} has shape {tuple(state[key].shape)}, but this model's projector "
                f"needs {tuple(target[name].shape)} (vision tower width x LLM width); give the "
                "projector trained for this vision tower and LLM"
            )
        target[name] = state[key]
    model.model.multi_modal_projector.load_state_dict(target)


def build_llava(
    vision: Any,
    tokenizer: Any,
    lm: Any,
    projector: ProjectorKind,
    *,
    feature_layer: int,
    select_strategy: Literal["default", "full"] = "default",
) -> Any:
    """A `LlavaForConditionalGeneration` holding `vision` and `lm`'s weights, `<image>` added.

    The projector is freshly initialised (stage 1 trains it); `tokenizer` gains the image
    token and a pad token if it lacks them.
    """
    from transformers import LlavaConfig, LlavaForConditionalGeneration  # noqa: PLC0415

    if IMAGE_PLACEHOLDER not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_PLACEHOLDER]})
    vcfg = vision.config
    n_patches = (vcfg.image_size // vcfg.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vcfg.to_dict(),
        text_config=lm.config.to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER),
        vision_feature_layer=feature_layer,
        vision_feature_select_strategy=select_strategy,
        projector_hidden_act="linear" if projector is ProjectorKind.LINEAR else "gelu",
        image_seq_length=n_patches + (select_strategy == "full"),
        tie_word_embeddings=False,
    )
    model: Any = LlavaForConditionalGeneration(config)
    model.model.vision_tower.load_state_dict(vision.state_dict())
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.lm_head.weight.data.copy_(lm.lm_head.weight.data)
    _init_projector(model, projector)
    # Resizing after copying keeps the pretrained rows; the new `<image>` row is never read
    # (its positions are overwritten by image features) so its init does not matter.
    model.resize_token_embeddings(len(tokenizer))
    model.config.text_config.vocab_size = len(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _init_projector(model: Any, kind: ProjectorKind) -> None:
    proj = model.model.multi_modal_projector
    # PyTorch's default Linear init, as LLaVA had (llava-hf would use N(0, initializer_range)).
    proj.linear_1.reset_parameters()
    if kind is ProjectorKind.LINEAR:
        # act "linear" + identity linear_2 == one Linear(vision, text), loadable by stock
        # transformers; linear_2 stays frozen in every stage (see stages.py).
        with torch.no_grad():
            proj.linear_2.weight.copy_(torch.eye(proj.linear_2.weight.shape[0]))
            proj.linear_2.bias.zero_()
    else:
        proj.linear_2.reset_parameters()


def load_image_processor(folder: Path) -> Any:
    """The CLIP image processor saved beside the tower (PIL backend: no torchvision needed)."""
    from transformers import CLIPImageProcessorPil  # noqa: PLC0415 - heavy

    return load_pretrained(CLIPImageProcessorPil.from_pretrained, folder, "CLIP image processor")


def save_llava(
    model: Any,
    tokenizer: Any,
    image_processor: Any,
    out: Path,
    *,
    patch_size: int,
    chat_template: str | None = None,
) -> None:
    """Write model + processor so `LlavaForConditionalGeneration` and `AutoProcessor` load it."""
    from transformers import LlavaProcessor  # noqa: PLC0415 - heavy

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # num_additional_image_tokens=1: CLIP's CLS is counted then dropped by "default", giving
    # one placeholder per patch (the llava-hf hub repos set the same).
    processor = LlavaProcessor(  # type: ignore[no-untyped-call]
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token=IMAGE_PLACEHOLDER,
        chat_template=chat_template,
    )
    processor.save_pretrained(out)
