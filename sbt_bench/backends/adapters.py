"""Apply a LoRA adapter so that every tensor lands, or stop with one line saying which did not.

Two adapter layouts reach here:
- a plain peft folder (`adapter_config.json`, `adapter_model.safetensors|bin`), as sbt-train
  and most tools write it;
- the LLaVA layout the Sight-Beyond-Text paper released (`MM-*-lora`): the same peft files
  (old 12-key config, pickled `adapter_model.bin`) plus `non_lora_trainables.bin` (the
  resized `embed_tokens`, `lm_head` and the projector, trained in full) and a `config.json`
  whose `vocab_size` counts the added image tokens.

The LLaVA layout is scored by one of two named procedures (`ModelSpec.lora_procedure`):
`as-trained` builds what LLaVA's own loader builds (vocabulary resized to the LoRA config's,
`non_lora_trainables.bin` loaded with LLaVA's key stripping, then the LoRA merged);
`paper-harness` builds what the 2023 lm-eval harness measured (the LoRA on the unresized
base, `non_lora_trainables.bin` ignored, which the run logs).

peft itself only warns when adapter keys miss the model (and then changes nothing), so the
adapter's key set and shapes are compared here with what the wrapped model expects.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.files import read_json
from sbt_bench.core.types import ModelSpec

log = logging.getLogger(__name__)

NON_LORA = "non_lora_trainables.bin"
ADAPTER_CONFIG = "adapter_config.json"
# LLaVA's language-model keys -> llava-hf's, for an adapter trained on a LlavaLlama model
# and applied to a LlavaForConditionalGeneration.
_LLAVA_HF_LAYERS = ("model.layers.", "model.language_model.layers.")
_LLAVA_HF_NON_LORA = {
    "model.embed_tokens.weight": "model.language_model.embed_tokens.weight",
    "lm_head.weight": "lm_head.weight",
    "model.mm_projector.weight": "model.multi_modal_projector.linear_1.weight",
    "model.mm_projector.bias": "model.multi_modal_projector.linear_1.bias",
}
_SHOWN = 3
_START_END = ("<im_start>", "<im_end>")


@dataclass(frozen=True)
class AdapterFolder:
    """What an adapter folder holds, read once.

    Attributes:
        folder: the adapter directory.
        weights: the LoRA tensors under the names peft saved them with.
        non_lora: `non_lora_trainables.bin` after LLaVA's key stripping (empty: none).
        vocab_size: the vocabulary the adapter was trained with (its `config.json`), if known.
        llava_layout: whether this is the LLaVA layout (`non_lora_trainables.bin` present).
    """

    folder: Path
    weights: dict[str, torch.Tensor]
    non_lora: dict[str, torch.Tensor]
    vocab_size: int | None
    llava_layout: bool


def read_adapter_folder(folder: Path, name: str) -> AdapterFolder:
    """The adapter's tensors, its non-LoRA trainables and its vocabulary size."""
    if not (folder / ADAPTER_CONFIG).is_file():
        raise SbtError(
            f"model {name!r}: {folder} has no {ADAPTER_CONFIG}; give a LoRA adapter folder "
            "after '+' (peft's save_pretrained output or a LLaVA-layout MM-*-lora folder)"
        )
    config_path = folder / "config.json"
    config = dict(read_json(config_path)) if config_path.is_file() else {}
    vocab = config.get("vocab_size")
    non_lora_path = folder / NON_LORA
    non_lora = (
        strip_llava_prefixes(_load_tensors(non_lora_path, name)) if non_lora_path.is_file() else {}
    )
    return AdapterFolder(
        folder=folder,
        weights=_adapter_weights(folder, name),
        non_lora=non_lora,
        vocab_size=vocab if isinstance(vocab, int) else None,
        llava_layout=non_lora_path.is_file(),
    )


def strip_llava_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LLaVA's loader's renaming: drop `base_model.`, then a leading `model.` of `model.model.`."""
    state = {k.removeprefix("base_model."): v for k, v in state.items()}
    if any(k.startswith("model.model.") for k in state):
        state = {k.removeprefix("model."): v for k, v in state.items()}
    return state


def apply_adapter(model: Any, spec: ModelSpec) -> Any:
    """`model` with the spec's adapter merged in, by the spec's procedure; never partly applied."""
    assert spec.adapter is not None
    adapter = read_adapter_folder(Path(spec.adapter), spec.name)
    llava_hf = _is_llava_hf(model)
    procedure = spec.lora_procedure or "as-trained"
    if adapter.non_lora:
        if procedure == "as-trained":
            _load_non_lora(model, adapter, spec.name, llava_hf=llava_hf)
        else:
            log.warning(
                "model %s: procedure paper-harness: ignoring the %d tensors of %s (%s), as the "
                "2023 harness did; --lora-procedure as-trained loads them",
                spec.name,
                len(adapter.non_lora),
                NON_LORA,
                ", ".join(sorted(adapter.non_lora)),
            )
    elif adapter.llava_layout:
        log.info("model %s: %s is empty (a text-only LoRA run)", spec.name, NON_LORA)
    return merge_checked_lora(model, adapter, spec.name, llava_hf=llava_hf)


def add_start_end_tokens(tokenizer: Any, model: Any, spec: ModelSpec) -> None:
    """Give the tokenizer LLaVA's `<im_start>`/`<im_end>` where the trained vocabulary has them.

    A LoRA trained with `mm_use_im_start_end` has those two rows last (after `<im_patch>`,
    whose id a llava-hf base gives `<image>`); with them in the tokenizer the `sbt-paper`
    prompt format wraps each image as LLaVA did. Only `as-trained` has those rows.
    """
    assert spec.adapter is not None
    config_path = Path(spec.adapter) / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    wanted = isinstance(config, dict) and bool(config.get("mm_use_im_start_end"))
    if (
        not wanted
        or spec.lora_procedure == "paper-harness"
        or _START_END[0] in tokenizer.get_vocab()
    ):
        return
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) != rows - len(_START_END):
        log.warning(
            "model %s: the base tokenizer has %d tokens, the trained vocabulary %d: %s not "
            "added, images are not wrapped in them",
            spec.name,
            len(tokenizer),
            rows,
            "/".join(_START_END),
        )
        return
    tokenizer.add_tokens(list(_START_END), special_tokens=True)


def merge_checked_lora(model: Any, adapter: AdapterFolder, name: str, *, llava_hf: bool) -> Any:
    """Wrap `model` with the adapter's config, load its tensors after checking them, merge."""
    from peft import PeftModel, set_peft_model_state_dict  # noqa: PLC0415 - only for adapters

    config = _lora_config(adapter, name, llava_hf=llava_hf)
    weights = adapter.weights
    if llava_hf and any(_LLAVA_HF_LAYERS[0] in k and "language_model" not in k for k in weights):
        weights = {_to_llava_hf(k): v for k, v in weights.items()}
    try:
        peft_model = PeftModel(model, config)
    except (ValueError, KeyError, RuntimeError) as err:
        raise SbtError(
            f"model {name!r}: adapter {adapter.folder} does not fit the base ({first_line(err)}); "
            "give the base model it was trained on"
        ) from None
    _check_keys(peft_model, weights, adapter.folder, name)
    set_peft_model_state_dict(peft_model, weights)
    # Merging makes the adapter free at inference time and changes logits by float rounding only.
    return peft_model.merge_and_unload()


def _lora_config(adapter: AdapterFolder, name: str, *, llava_hf: bool) -> Any:
    from peft import LoraConfig  # noqa: PLC0415 - only for adapters

    try:
        config = LoraConfig.from_pretrained(str(adapter.folder))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise SbtError(
            f"model {name!r}: cannot read {adapter.folder / ADAPTER_CONFIG} ({first_line(err)})"
        ) from None
    config.inference_mode = True
    targets = config.target_modules
    if llava_hf and not isinstance(targets, str) and targets:
        # A suffix list would also wrap CLIP's q/k/v projections; LLaVA's LoRA covered the
        # language model only (peft full-matches a string target as a regex).
        names = "|".join(re.escape(t) for t in sorted(targets))
        config.target_modules = rf".*language_model.*\.({names})"
    return config


def _check_keys(peft_model: Any, weights: dict[str, torch.Tensor], folder: Path, name: str) -> None:
    """Refuse an adapter whose keys or shapes differ from what the wrapped model expects."""
    from peft import get_peft_model_state_dict  # noqa: PLC0415 - only for adapters

    def shapes(embeddings: bool) -> dict[str, tuple[int, ...]]:
        state = get_peft_model_state_dict(peft_model, save_embedding_layers=embeddings)
        return {k: tuple(v.shape) for k, v in state.items()}

    required = shapes(embeddings=False)
    # peft saves whole embedding layers too where it finds the vocabulary resized.
    expected = shapes(embeddings=True) | required
    missing = sorted(set(required) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    fix = "give the base model the adapter was trained on (hf:<base>+<adapter>)"
    if missing or unexpected:
        raise SbtError(
            f"model {name!r}: adapter {folder} does not fit the base: {len(unexpected)} of its "
            f"tensors match no module (first {unexpected[:_SHOWN]}) and {len(missing)} expected "
            f"tensors are absent (first {missing[:_SHOWN]}); {fix}"
        )
    wrong = [k for k in sorted(weights) if tuple(weights[k].shape) != expected[k]]
    if wrong:
        key = wrong[0]
        raise SbtError(
            f"model {name!r}: adapter {folder}: {len(wrong)} tensors have the wrong shape, first "
            f"{key} {tuple(weights[key].shape)} where the base needs {expected[key]} (is r in "
            f"{ADAPTER_CONFIG} the one it was trained with?); {fix}"
        )


def _load_non_lora(model: Any, adapter: AdapterFolder, name: str, *, llava_hf: bool) -> None:
    """LLaVA's as-trained step: resize to the trained vocabulary, load the trained tensors."""
    tensors = adapter.non_lora
    if llava_hf:
        unknown = sorted(set(tensors) - set(_LLAVA_HF_NON_LORA))
        if unknown:
            raise SbtError(
                f"model {name!r}: {adapter.folder / NON_LORA} holds {unknown[:_SHOWN]}, which "
                "no llava-hf parameter receives; use --lora-procedure paper-harness to ignore it"
            )
        tensors = {_LLAVA_HF_NON_LORA[k]: v for k, v in tensors.items()}
        _check_linear_projector(model, adapter, name)
    vocab = adapter.vocab_size or _rows_of(tensors)
    if vocab is not None and vocab != model.get_input_embeddings().weight.shape[0]:
        # Rows beyond the base's are overwritten below; LLaVA allocates them uninitialised.
        model.resize_token_embeddings(vocab, mean_resizing=False)
    own = model.state_dict()
    ignored = sorted(k for k in tensors if k not in own and "mm_projector" in k)
    unknown = sorted(k for k in tensors if k not in own and k not in ignored)
    if unknown:
        raise SbtError(
            f"model {name!r}: {adapter.folder / NON_LORA} holds {unknown[:_SHOWN]}, which the "
            "base has no parameter for; give the base it was trained on"
        )
    for key in sorted(k for k in tensors if k in own):
        if tuple(tensors[key].shape) != tuple(own[key].shape):
            raise SbtError(
                f"model {name!r}: {adapter.folder / NON_LORA}: {key} has shape "
                f"{tuple(tensors[key].shape)}, the base {tuple(own[key].shape)}; give the base "
                "it was trained on (or its vision tower and LLM width)"
            )
    loaded = {k: v for k, v in tensors.items() if k in own}
    model.load_state_dict(loaded, strict=False)
    if ignored:  # a text model has no projector: the image path is not scored here
        log.warning(
            "model %s: a text model has no image projector; %s not used (llava: scores it)",
            name,
            ", ".join(ignored),
        )
    log.info("model %s: as-trained: loaded %s from %s", name, ", ".join(sorted(loaded)), NON_LORA)


def _check_linear_projector(model: Any, adapter: AdapterFolder, name: str) -> None:
    """The paper's projector is one Linear: the base must have the `linear` llava-hf form."""
    if "model.mm_projector.weight" not in adapter.non_lora:
        return
    if getattr(model.config, "projector_hidden_act", None) != "linear":
        raise SbtError(
            f"model {name!r}: the adapter's projector is one Linear layer but this llava base's "
            f"projector is two layers with {model.config.projector_hidden_act}; give a base "
            "built by `sbt-train assemble --projector linear` from the adapter's base LLM"
        )
    proj = model.model.multi_modal_projector
    with torch.no_grad():  # linear_2 stays the identity that makes two layers one Linear
        proj.linear_2.weight.copy_(torch.eye(proj.linear_2.weight.shape[0]))
        proj.linear_2.bias.zero_()


def _is_llava_hf(model: Any) -> bool:
    inner = getattr(model, "model", None)
    return hasattr(inner, "language_model") and hasattr(inner, "multi_modal_projector")


def _to_llava_hf(key: str) -> str:
    return key.replace(*_LLAVA_HF_LAYERS, 1)


def _rows_of(tensors: dict[str, torch.Tensor]) -> int | None:
    embed = next((v for k, v in tensors.items() if k.endswith("embed_tokens.weight")), None)
    return None if embed is None else int(embed.shape[0])


def _adapter_weights(folder: Path, name: str) -> dict[str, torch.Tensor]:
    safetensors = folder / "adapter_model.safetensors"
    if safetensors.is_file():
        from safetensors.torch import load_file  # noqa: PLC0415

        try:
            return load_file(str(safetensors))
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error type
            raise SbtError(
                f"model {name!r}: cannot read {safetensors} ({first_line(err)}); save it again"
            ) from None
    pickled = folder / "adapter_model.bin"
    if pickled.is_file():
        return _load_tensors(pickled, name)
    raise SbtError(
        f"model {name!r}: {folder} has {ADAPTER_CONFIG} but no adapter_model.safetensors or "
        "adapter_model.bin"
    )


def _load_tensors(path: Path, name: str) -> dict[str, torch.Tensor]:
    """A pickled state dict (the released `.bin` files), read without running pickled code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise SbtError(f"model {name!r}: cannot read {path} ({first_line(err)})") from None
    if not isinstance(state, dict):
        raise SbtError(f"model {name!r}: {path} is not a state dict of tensors")
    return dict(state)
