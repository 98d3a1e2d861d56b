"""Start stage 2 from a stage-1 projector file (`mm_projector.bin`, as the paper released).

LLaVA's `train.py` saves every parameter whose name holds `mm_projector` and, when the run
used `mm_use_im_start_end`, the whole `model.embed_tokens.weight`. Its stage 2
(`llava_arch.initialize_vision_tokenizer`) then loads the projector, adds `<im_start>` and
`<im_end>`, and copies only the file's last two embedding rows into them: when the file has
as many rows as the model, its last two; when it has exactly two, those; anything else
raises (a stage 1 run with `--version v0` added `[PAD]`, one row more than a stage 2 on
`llava_llama_2` has). The same rules here, with one line where LLaVA raises.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from sbt_bench.core.errors import SbtError, first_line
from sbt_train.model.llava_hf import ProjectorKind, load_llava_projector

log = logging.getLogger(__name__)

PROJECTOR_FILE = "mm_projector.bin"
START_END = ("<im_start>", "<im_end>")
_EMBED = "model.embed_tokens.weight"


def read_projector_file(path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """The file (a folder means its `mm_projector.bin`) and its tensors, by LLaVA's names."""
    file = path / PROJECTOR_FILE if path.is_dir() else path
    if not file.is_file():
        raise SbtError(
            f"--projector-weights {path}: no such file; give mm_projector.bin or its folder"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise SbtError(f"--projector-weights {file}: cannot read it ({first_line(err)})") from None
    if not isinstance(state, dict):
        raise SbtError(f"--projector-weights {file}: not a state dict of tensors")
    # LLaVA loads every key holding `mm_projector.` whatever its prefix.
    projector = {
        "model.mm_projector." + k.split("mm_projector.", 1)[1]: v
        for k, v in state.items()
        if "mm_projector." in k
    }
    if not projector:
        raise SbtError(f"--projector-weights {file}: holds no mm_projector.* tensor")
    embed = next((v for k, v in state.items() if k.endswith("embed_tokens.weight")), None)
    return file, projector if embed is None else projector | {_EMBED: embed}


def apply_projector_weights(model: Any, tokenizer: Any, path: Path) -> int:
    """Load the stage-1 projector into `model`; LLaVA's `<im_start>`/`<im_end>` rows if saved.

    Returns the number of tokens added to the vocabulary (0 or 2).
    """
    file, state = read_projector_file(path)
    kind = (
        ProjectorKind.LINEAR
        if model.config.projector_hidden_act == "linear"
        else ProjectorKind.MLP2X_GELU
    )
    load_llava_projector(model, {k: v.float() for k, v in state.items()}, kind, f"{file}:")
    log.info("projector loaded from %s", file)
    if _EMBED not in state:  # stage 1 ran without mm_use_im_start_end
        return 0
    return _add_start_end_rows(model, tokenizer, state[_EMBED], file)


def _add_start_end_rows(model: Any, tokenizer: Any, trained: torch.Tensor, file: Path) -> int:
    added: int = tokenizer.add_tokens(list(START_END), special_tokens=True)
    if added == 0:
        log.info("the tokenizer already has %s; its rows are kept", " and ".join(START_END))
        return 0
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.config.text_config.vocab_size = len(tokenizer)
    inputs = model.get_input_embeddings().weight.data
    outputs = model.get_output_embeddings().weight.data
    # LLaVA: the new rows start as the mean of the others; the input rows then come from stage 1.
    inputs[-added:] = inputs[:-added].mean(dim=0, keepdim=True)
    outputs[-added:] = outputs[:-added].mean(dim=0, keepdim=True)
    rows = trained.to(inputs.dtype)
    if rows.shape == inputs.shape:
        inputs[-added:] = rows[-added:]
    elif rows.shape[0] == added and rows.shape[1] == inputs.shape[1]:
        inputs[-added:] = rows
    else:
        one_more = rows.shape[0] - inputs.shape[0] == 1
        why = " (one more: stage 1's template added [PAD], as LLaVA's v0 does)" if one_more else ""
        raise SbtError(
            f"--projector-weights {file}: its embed_tokens has shape {tuple(rows.shape)}, this "
            f"model's {tuple(inputs.shape)} after adding {'/'.join(START_END)}{why}; LLaVA stops "
            "here too: use a projector trained with this model's vocabulary"
        )
    return added


NON_LORA = "non_lora_trainables.bin"
# LLaVA's names for the two tensors its LoRA runs trained in full (non_lora_trainables.bin).
_NON_LORA_KEYS = ("base_model.model.model.embed_tokens.weight", "base_model.model.lm_head.weight")


def save_non_lora_trainables(model: Any, out: Path) -> Path:
    """Write the fully trained embeddings and LM head beside the adapter, in LLaVA's layout.

    sbt-bench's `as-trained` procedure (the default) loads them before merging the LoRA.
    """
    tensors = (model.get_input_embeddings().weight, model.get_output_embeddings().weight)
    state = {k: t.detach().to("cpu").clone() for k, t in zip(_NON_LORA_KEYS, tensors, strict=True)}
    torch.save(state, out / NON_LORA)
    return out / NON_LORA
