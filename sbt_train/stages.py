"""Which parameters each stage trains, and LoRA wrapping.

Order follows the known pitfalls: resize happens in `assemble` (resizing creates fresh,
trainable parameters), then `requires_grad` is set here, then peft wraps the model.
"""

from __future__ import annotations

from typing import Any

from sbt_train.config import TrainConfig

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# A regex (peft full-matches strings) scoped to the language model: the suffix list alone
# would also wrap CLIP's q/k/v projections (LLaVA #1380).
LLAVA_LORA_REGEX = r".*language_model.*\.(" + "|".join(LORA_TARGETS) + ")"
PROJECTOR = "multi_modal_projector"


def prepare_model(model: Any, cfg: TrainConfig, *, train_embeddings: bool = False) -> Any:
    """Freeze/unfreeze for `cfg.stage` and wrap with LoRA when asked; returns the model to train.

    `train_embeddings` (LoRA runs): the input embeddings and LM head train in full, as in
    LLaVA's LoRA runs, where they were resized (new parameters) after `get_peft_model`.
    """
    is_llava = hasattr(model, "model") and hasattr(model.model, PROJECTOR)
    model.requires_grad_(requires_grad=False)
    if cfg.stage == "pretrain":
        _unfreeze_projector(model)
    elif cfg.stage == "finetune":
        if not cfg.lora:
            model.model.language_model.requires_grad_(requires_grad=True)
            model.lm_head.requires_grad_(requires_grad=True)
        _unfreeze_projector(model)
    elif not cfg.lora:
        model.requires_grad_(requires_grad=True)
    if cfg.lora:
        model = _wrap_lora(model, cfg, is_llava=is_llava)
        if is_llava:
            _freeze_identity_projector(model)
        if train_embeddings:
            model.get_input_embeddings().weight.requires_grad_(requires_grad=True)
            model.get_output_embeddings().weight.requires_grad_(requires_grad=True)
    return model


def _unfreeze_projector(model: Any) -> None:
    model.model.multi_modal_projector.requires_grad_(requires_grad=True)
    _freeze_identity_projector(model)


def _freeze_identity_projector(model: Any) -> None:
    # With the "linear" projector, linear_2 is a fixed identity (one Linear, as LLaVA-v1/SBT).
    if model.config.projector_hidden_act != "linear":
        return
    for name, param in model.named_parameters():
        if PROJECTOR in name and ".linear_2." in name:
            param.requires_grad_(requires_grad=False)


def _wrap_lora(model: Any, cfg: TrainConfig, *, is_llava: bool) -> Any:
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415 - only for --lora

    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        bias="none",
        target_modules=LLAVA_LORA_REGEX if is_llava else list(LORA_TARGETS),
        # The projector is trained whole and saved inside the adapter folder.
        modules_to_save=[PROJECTOR] if is_llava else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def trainable_names(model: Any) -> list[str]:
    """Names of the parameters that will receive gradients."""
    return [name for name, p in model.named_parameters() if p.requires_grad]
