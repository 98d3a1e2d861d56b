"""The Backend protocol, model specs and run-time options shared by every backend."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from sbt_bench.backends.spec_checks import check_model_values
from sbt_bench.errors import SbtError
from sbt_bench.types import Request, Response

MC_PROTOCOLS = ("auto", "loglikelihood", "letters", "letters-generated")
IMAGE_DETAILS = ("auto", "low", "high")


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate, parsed from an alias, `hf:<path or hub id>[+adapter]` or a YAML file.

    Attributes:
        name: display name; also names the results folder.
        backend: registered backend key (`hf`).
        path: local directory, local file (GGUF) or hub id.
        gguf_file: GGUF file name inside `path` (a directory) when loading a GGUF checkpoint.
        adapter: a PEFT (LoRA) adapter directory applied on top of `path`.
        revision: hub revision.
        dtype: overrides `--dtype` for this model.
        batch_size: overrides `--batch-size` for this model.
        trust_remote_code: passed to transformers.
        base_url: OpenAI-compatible server (`openai` backend; default $OPENAI_BASE_URL).
        api_key_env: the environment variable holding the API key (never stored).
        concurrency: requests in flight at once (`openai` backend).
        timeout: seconds before a request is abandoned and retried.
        max_retries: retries after a 429, 5xx, timeout, dropped connection or bad body.
        prompt_format: how image prompts are laid out (`llava` backend): the model's own
            `chat_template`, or a registered preset such as `sbt-paper`.
        mc_protocol: how multiple-choice tasks are asked: `loglikelihood` (summed
            continuation log-probabilities), `letters` (options shown as letters, the answer
            read from the first token's top_logprobs, else from the generated letter), or
            `auto`: letters for `openai:` chat models, loglikelihood for everything else.
        price_prompt_per_1m: price of 1M prompt tokens, for the cost estimate in results
            (None: the built-in table for well-known names, else no estimate).
        price_completion_per_1m: price of 1M completion tokens (as above).
        image_detail: the `detail` sent with every image to a chat API (auto, low, high).
        image_max_size: longest image side in pixels sent to a chat API; larger images are
            resized to it and counted in results. None: images go out as they are.
    """

    name: str
    backend: str
    path: str
    gguf_file: str | None = None
    adapter: str | None = None
    revision: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    trust_remote_code: bool = False
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 5
    prompt_format: str = "chat_template"
    mc_protocol: str = "auto"
    price_prompt_per_1m: float | None = None
    price_completion_per_1m: float | None = None
    image_detail: str = "auto"
    image_max_size: int | None = None

    def __post_init__(self) -> None:
        check_model_values(self)
        if self.mc_protocol not in MC_PROTOCOLS:
            raise SbtError(
                f"model {self.name!r}: mc_protocol must be one of {MC_PROTOCOLS}, "
                f"got {self.mc_protocol!r}"
            )
        if self.image_detail not in IMAGE_DETAILS:
            raise SbtError(
                f"model {self.name!r}: image_detail must be one of {IMAGE_DETAILS}, "
                f"got {self.image_detail!r}"
            )
        if self.image_max_size is not None and self.image_max_size < 1:
            raise SbtError(f"model {self.name!r}: image_max_size must be a positive pixel count")

    def choice_protocol(self) -> str:
        """The multiple-choice protocol in force: `loglikelihood` or `letters`."""
        if self.mc_protocol != "auto":
            return self.mc_protocol
        # Chat APIs give no prompt log-probabilities, so they cannot score continuations.
        return "letters" if self.backend == "openai" else "loglikelihood"

    def slug(self) -> str:
        """A file-system-safe folder name for this model's results."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "__", self.name.strip("/")).strip("_")
        return slug[-120:] or "model"


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
        "files": _file_signature(spec.path) + _file_signature(spec.adapter),
    }
    for irrelevant in (
        "name",
        "batch_size",
        "api_key_env",
        "concurrency",
        "timeout",
        "max_retries",
        # These choose which requests are made or what they cost, never a response.
        "mc_protocol",
        "price_prompt_per_1m",
        "price_completion_per_1m",
    ):
        ident.pop(irrelevant)
    # Image settings change what a model sees; left out at their defaults so that
    # fingerprints (and caches) from before these settings existed stay valid.
    for name, default in (("image_detail", "auto"), ("image_max_size", None)):
        if ident[name] == default:
            ident.pop(name)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _file_signature(path: str | None) -> list[str]:
    if path is None or not Path(path).exists():
        return []
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.iterdir() if p.is_file())
    return [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
