"""How a checkpoint is loaded and run: placement, attention, quantisation and vLLM's engine.

These are model-YAML keys (`device_map: auto`, `load_in: 4bit`, `tensor_parallel_size: 2`,
...). The value checks here need nothing installed; whether the machine can honour them
(a GPU, bitsandbytes, vllm) is checked by the backend that loads the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sbt_bench.core.errors import SbtError

DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
LOAD_IN = ("8bit", "4bit")
MODEL_IMPLS = ("auto", "vllm", "transformers")
# Keys a checkpoint backend (hf, llava) reads; the rest are vLLM engine arguments.
HF_KEYS = ("device_map", "max_memory", "offload_folder", "attn_implementation", "load_in")
VLLM_KEYS = (
    "tensor_parallel_size",
    "data_parallel_size",
    "gpu_memory_utilization",
    "max_model_len",
    "enforce_eager",
    "model_impl",
)
# Where the model lives, never what it computes: left out of the model's identity.
PLACEMENT_ONLY = ("max_memory", "offload_folder", "gpu_memory_utilization", "data_parallel_size")


@dataclass(frozen=True)
class EngineSettings:
    """Loading and engine settings of one model; the defaults load it whole on one device.

    Attributes:
        device_map: accelerate's big-model placement (`auto`, `balanced`, ...): layers
            spread over the GPUs, then CPU memory, then `offload_folder` on disk.
        max_memory: the most memory per device for `device_map`, as (device, size) pairs
            (`("0", "20GiB")`, `("cpu", "60GiB")`).
        offload_folder: where layers that fit nowhere else are kept (`device_map`).
        attn_implementation: transformers' attention kernel (`sdpa`, `eager`,
            `flash_attention_2`).
        load_in: `8bit` or `4bit` weights through bitsandbytes (a CUDA GPU needed).
        tensor_parallel_size: GPUs one vLLM engine splits each layer over.
        data_parallel_size: vLLM engine replicas (vLLM's own data parallelism).
        gpu_memory_utilization: the share of GPU memory vLLM may take (None: its default).
        max_model_len: the longest sequence vLLM plans for (None: the model's own).
        enforce_eager: vLLM without graph capture or compilation (None: True on CPU,
            vLLM's default on a GPU).
        model_impl: vLLM's own model code (`vllm`), transformers' (`transformers`), or
            `auto`.
    """

    device_map: str | None = None
    max_memory: tuple[tuple[str, str], ...] | None = None
    offload_folder: str | None = None
    attn_implementation: str | None = None
    load_in: str | None = None
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    enforce_eager: bool | None = None
    model_impl: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("device_map", self.device_map, DEVICE_MAPS)
        _check_choice("load_in", self.load_in, LOAD_IN)
        _check_choice("model_impl", self.model_impl, MODEL_IMPLS)
        for name in ("tensor_parallel_size", "data_parallel_size", "max_model_len"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise SbtError(f"{name} must be a whole number of at least 1, got {value!r}")
        share = self.gpu_memory_utilization
        if share is not None and not (isinstance(share, (int, float)) and 0 < share <= 1):
            raise SbtError(f"gpu_memory_utilization must be in (0, 1], got {share!r}")
        if self.enforce_eager is not None and not isinstance(self.enforce_eager, bool):
            raise SbtError(f"enforce_eager must be true or false, got {self.enforce_eager!r}")
        for name in ("offload_folder", "attn_implementation"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise SbtError(f"{name} must be text, got {value!r}")
        if (self.max_memory or self.offload_folder) and self.device_map is None:
            raise SbtError("max_memory and offload_folder need `device_map: auto` beside them")

    def given(self, keys: tuple[str, ...]) -> list[str]:
        """The names among `keys` set to something other than their default."""
        default = EngineSettings()
        return [k for k in keys if getattr(self, k) != getattr(default, k)]

    def identity(self) -> dict[str, Any]:
        """The settings that change a model's numbers, where not at their defaults."""
        default = asdict(EngineSettings())
        return {
            k: v for k, v in asdict(self).items() if k not in PLACEMENT_ONLY and v != default[k]
        }

    def max_memory_map(self) -> dict[int | str, str] | None:
        """`max_memory` as accelerate takes it: GPU indices as integers."""
        if self.max_memory is None:
            return None
        return {int(k) if k.isdigit() else k: v for k, v in self.max_memory}


def engine_settings_from(data: dict[str, Any], where: str) -> EngineSettings:
    """Pop the engine keys out of a model YAML's mapping into settings (errors name `where`)."""
    names = [f.name for f in fields(EngineSettings)]
    given = {name: data.pop(name) for name in names if name in data}
    if "max_memory" in given:
        given["max_memory"] = _memory_pairs(given["max_memory"], where)
    try:
        return EngineSettings(**given)
    except SbtError as err:
        raise SbtError(f"{where}: {err}") from None


def _memory_pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not value:
        raise SbtError(
            f"{where}: max_memory must map devices to sizes, e.g. {{0: 20GiB, cpu: 60GiB}}; "
            f"got {value!r}"
        )
    return tuple((str(k), str(v)) for k, v in value.items())


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise SbtError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
