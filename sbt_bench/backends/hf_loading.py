"""Load HF causal LMs (local folder, hub id or GGUF file; optional LoRA), with clear errors."""

from __future__ import annotations

import importlib.util
import logging
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from sbt_bench.backends.adapters import add_start_end_tokens, apply_adapter
from sbt_bench.backends.gguf_cache import dequantised_copy
from sbt_bench.backends.original_llava import converted_spec, is_original_llava
from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.hub import check_hub, offline_libraries
from sbt_bench.core.types import ModelSpec

log = logging.getLogger(__name__)

_NO_LIMIT_SENTINEL = 1_000_000
# What a cut-short or garbled weights file raises: safetensors' header check; the GGUF
# reader unpacking past the end of the file.
_UNREADABLE_WEIGHTS = (SafetensorError, struct.error, EOFError)
_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on a GPU that supports it and float32 elsewhere."""
    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if name not in _DTYPES:
        raise SbtError(f"unknown --dtype {name!r}; use auto, {', '.join(_DTYPES)}")
    return _DTYPES[name]


def resolve_device(name: str) -> torch.device:
    """The torch device, refusing `cuda` on a machine without one."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SbtError("--device cuda was given but no CUDA device is available; use --device cpu")
    return device


def load_tokenizer_and_model(
    spec: ModelSpec,
    device: torch.device,
    dtype: torch.dtype,
    *,
    with_images: bool = False,
    offline: bool | None = None,
) -> tuple[Any, Any]:
    """Tokenizer (processor `with_images`) and eval-mode model on `device`, LoRA merged in.

    `with_images` loads an image-text-to-text model (LLaVA) and its processor instead of a
    causal LM and its tokenizer. `offline`: hub files from the local cache only (None: only
    when the hub is unreachable).
    """
    import transformers  # noqa: PLC0415 - heavy

    model_class: Any = transformers.AutoModelForCausalLM
    if with_images:
        model_class = transformers.AutoModelForImageTextToText
    log.info("loading %s on %s (%s)", spec.name, device, dtype)
    if spec.gguf_file and not with_images:  # later loads read the cached safetensors copy
        spec = plain_copy_of_gguf(spec, transformers.AutoTokenizer, model_class, offline)
    if with_images and Path(spec.path).is_dir() and is_original_llava(Path(spec.path)):
        spec = converted_spec(spec, offline)  # the cached llava-hf copy, built on first use
    processing = load_processing(spec, with_images=with_images, offline=offline)
    kwargs = _load_kwargs(spec) | {"dtype": dtype} | placement_kwargs(spec, device)
    model = call_loader(model_class.from_pretrained, spec, "model", kwargs, offline)
    if spec.adapter:
        model = merge_adapter(model, spec)
        if with_images:
            add_start_end_tokens(processing.tokenizer, model, spec)
    if "device_map" not in kwargs:  # accelerate placed (and hooked) the model itself
        model = model.to(device)
    return processing, model.eval()


def placement_kwargs(spec: ModelSpec, device: torch.device) -> dict[str, Any]:
    """`from_pretrained` arguments for the spec's device map, attention and quantisation."""
    engine = spec.engine
    kwargs: dict[str, Any] = {}
    if engine.attn_implementation:
        kwargs["attn_implementation"] = engine.attn_implementation
    if engine.device_map:
        kwargs["device_map"] = engine.device_map
        if engine.max_memory:
            kwargs["max_memory"] = engine.max_memory_map()
        if engine.offload_folder:
            kwargs["offload_folder"] = engine.offload_folder
    if engine.load_in:
        kwargs["quantization_config"] = _quantisation(spec, device)
        # bitsandbytes weights cannot be moved after loading: they load onto the GPU.
        kwargs.setdefault("device_map", {"": device.index or 0})
    return kwargs


def _quantisation(spec: ModelSpec, device: torch.device) -> Any:
    """The bitsandbytes 8- or 4-bit config, refusing a machine that cannot run it."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise SbtError(
            f"model {spec.name!r}: load_in: {spec.engine.load_in} needs bitsandbytes: "
            "pip install bitsandbytes (and a CUDA GPU)"
        )
    if device.type != "cuda":
        raise SbtError(
            f"model {spec.name!r}: load_in: {spec.engine.load_in} runs on a CUDA GPU only; "
            "use --device cuda, or drop load_in to score in full precision on CPU"
        )
    import transformers  # noqa: PLC0415 - heavy

    config_class: Any = transformers.BitsAndBytesConfig
    if spec.engine.load_in == "8bit":
        return config_class(load_in_8bit=True)
    return config_class(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)


def input_device(model: Any, device: torch.device) -> torch.device:
    """Where a model's inputs go: its embeddings' device under a device map, else `device`.

    accelerate's hooks move each layer's activations on from there; inputs placed on the
    first device are never moved twice.
    """
    placement = getattr(model, "hf_device_map", None)
    if not placement:
        return device
    first = next(iter(placement.values()))
    if isinstance(first, int):
        return torch.device("cuda", first)
    return torch.device(first) if first not in ("disk", "meta") else torch.device("cpu")


def load_processing(
    spec: ModelSpec, *, with_images: bool = False, offline: bool | None = None
) -> Any:
    """The tokenizer (or processor `with_images`) alone, e.g. to render chat prompts."""
    import transformers  # noqa: PLC0415 - heavy

    processing_class: Any = transformers.AutoTokenizer
    what, marker = "tokenizer", "tokenizer_config.json"
    if with_images:
        processing_class = transformers.AutoProcessor
        what, marker = "processor", "processor_config.json"
    kwargs = _load_kwargs(spec)
    # An adapter saved with its tokenizer or processor (sbt-train's LoRA runs) carries the
    # chat template and any tokens it was trained with, so it wins over the base's.
    adapter = spec.adapter
    if adapter is not None and (Path(adapter) / marker).is_file():
        own = {k: v for k, v in kwargs.items() if k not in ("gguf_file", "revision")}
        processing = call_loader(
            processing_class.from_pretrained, replace(spec, path=adapter), what, own, offline
        )
    else:
        processing = call_loader(processing_class.from_pretrained, spec, what, kwargs, offline)
    tokenizer = getattr(processing, "tokenizer", processing)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processing


def _load_kwargs(spec: ModelSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision:
        kwargs["revision"] = spec.revision
    if spec.gguf_file:
        kwargs["gguf_file"] = spec.gguf_file
    return kwargs


def plain_copy_of_gguf(
    spec: ModelSpec, processing_class: Any, model_class: Any, offline: bool | None = None
) -> ModelSpec:
    """The spec re-pointed at the cached dequantised copy of its GGUF file (built if needed).

    Only loading is redirected: callers keep the original spec, so the model's fingerprint
    and results still name the GGUF file.
    """
    assert spec.gguf_file is not None
    gguf = Path(spec.path) / spec.gguf_file
    if not gguf.is_file():  # a GGUF file inside a hub repository: transformers fetches it
        return spec
    kwargs = {"gguf_file": spec.gguf_file, "trust_remote_code": spec.trust_remote_code}

    def load_gguf() -> tuple[Any, Any]:
        processing = call_loader(
            processing_class.from_pretrained, spec, "tokenizer", kwargs, offline
        )
        model_kwargs = kwargs | {"dtype": torch.float32}
        return processing, call_loader(
            model_class.from_pretrained, spec, "model", model_kwargs, offline
        )

    folder = dequantised_copy(gguf, load_gguf)
    return replace(spec, path=str(folder), gguf_file=None, revision=None)


def call_loader(
    loader: Any, spec: ModelSpec, what: str, kwargs: dict[str, Any], offline: bool | None = None
) -> Any:
    """`loader(spec.path, **kwargs)`, turning load failures into one line naming the fix.

    A hub id is loaded online, or from the local cache only when `offline` (or, with None,
    when the hub is unreachable), passed to the loader as `local_files_only`.
    """
    local = Path(spec.path).exists()
    access = check_hub(offline if not local else False)
    if access.offline:
        kwargs = kwargs | {"local_files_only": True}
    try:
        with offline_libraries(access):
            return loader(spec.path, **kwargs)
    except _UNREADABLE_WEIGHTS as err:
        weights = Path(spec.path) / spec.gguf_file if spec.gguf_file else Path(spec.path)
        raise SbtError(
            f"model {spec.name!r}: cannot read the {what} from {weights} ({first_line(err)}); "
            "the checkpoint looks truncated or corrupt: copy or save it again"
        ) from None
    except (OSError, ValueError, KeyError) as err:
        reason = access.reason or first_line(err)
        where = "local folder" if local else "hub id (is the hub reachable?)"
        raise SbtError(
            f"model {spec.name!r}: cannot load the {what} from {where} {spec.path} ({reason}); "
            f"pass a local checkpoint folder as {spec.backend}:/path/to/model"
        ) from None


def merge_adapter(model: Any, spec: ModelSpec) -> Any:
    """The model with the spec's LoRA adapter merged into its weights (every tensor checked).

    A LLaVA-layout adapter is applied by the spec's `lora_procedure` (see adapters.py).
    """
    assert spec.adapter is not None
    return apply_adapter(model, spec)


def max_context_length(model: Any, tokenizer: Any) -> int:
    """The longest sequence the model accepts, as lm-eval determines it."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int):
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel value.
    return limit if isinstance(limit, int) and limit < _NO_LIMIT_SENTINEL else 2048
