"""Frozen values that cross module boundaries.

The model to evaluate, samples, requests to a backend and its responses, and scored items.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sbt_bench.core.engine_settings import EngineSettings
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import PromptSettings
from sbt_bench.core.value_checks import check_model_values

RequestKind = Literal["loglikelihood", "generate"]


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Decoding settings of a generation request (greedy unless `do_sample`).

    `top_logprobs` > 0 asks for the most likely first tokens and their log-probabilities
    (the chat letter protocol for multiple choice); backends that cannot give them ignore it.
    `do_sample` samples with `temperature` and `top_p` (`--gen-kwargs`), seeded per request.
    """

    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0

    def sampling(self) -> dict[str, float]:
        """The sampling settings when sampling (empty when greedy)."""
        if not self.do_sample:
            return {}
        return {"temperature": self.temperature, "top_p": self.top_p}


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark item after parsing, ready to become requests.

    Attributes:
        id: stable identifier (file position), used in samples files and caches.
        context: the full text the model conditions on (preamble included).
        choices: continuations scored by log-likelihood (multiple choice only).
        gold: indices of the correct choices (one for mc1 and ETHICS, several for mc2).
        references: true reference answers (generation tasks).
        negatives: false reference answers (generation tasks).
        images: image references the model sees with the context (see `sbt_bench.media.images`).
        subset: the breakdown an item is reported under (MME subtask, OODCV situation, ...).
        pair: items sharing a non-empty `pair` are scored together (MME's two questions
            per image).
        cluster: items sharing a non-empty `cluster` are not independent (one image's
            questions); standard errors and bootstraps treat each cluster as one unit.
    """

    id: str
    context: str
    choices: tuple[str, ...] = ()
    gold: tuple[int, ...] = ()
    references: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    subset: str = ""
    pair: str = ""
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """What a backend is asked: the log-likelihood of a continuation, or a greedy generation.

    `images` are image references (paths, or corrupted variants of them) shown with the context.
    """

    kind: RequestKind
    context: str
    continuation: str = ""
    generation: GenerationParams = field(default_factory=GenerationParams)
    images: tuple[str, ...] = ()

    def key(self) -> str:
        """Return a stable hash of everything that determines the response."""
        payload: list[object] = [self.kind, self.context, self.continuation]
        if self.kind == "generate":
            payload += [self.generation.max_new_tokens, list(self.generation.stop)]
            if self.generation.top_logprobs:  # only when set, so existing cache keys stay valid
                payload.append({"top_logprobs": self.generation.top_logprobs})
            if self.generation.do_sample:  # likewise: greedy keys are those of before
                payload.append(self.generation.sampling())
        if self.images:  # appended only when present, so text-only keys never change
            payload.append(list(self.images))
        blob = json.dumps(payload, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, slots=True)
class Response:
    """A backend's answer to one request; `logprob`/`is_greedy` or `text` is set by kind.

    `error` marks a request that failed for good (an API error after the last retry): it
    is never cached, and its item is counted as failed rather than scored.
    `top_logprobs` maps the most likely first generated tokens to their log-probabilities
    (when asked for and given); `prompt_tokens`/`completion_tokens` are the API's billed
    usage (None where the backend does not bill). `judgement` is an LLM judge's text about
    this response (judged tasks only; attached after the fact, never cached with it).
    """

    logprob: float | None = None
    is_greedy: bool | None = None
    text: str | None = None
    error: str | None = None
    top_logprobs: Mapping[str, float] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    judgement: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """One scored item, as written to `samples_<task>.jsonl`.

    `protocol` names how the scores were produced (see `sbt_bench.core.protocols`); `details`
    are further per-item facts written as they are (the letter order, a judge's text).
    """

    sample: Sample
    prediction: str
    scores: Mapping[str, float]
    loglikelihoods: tuple[float, ...] = ()
    is_greedy: tuple[bool, ...] = ()
    generation: str | None = None
    protocol: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregateScores:
    """A task's aggregate: headline metrics with standard errors, plus optional breakdowns.

    `breakdown` maps a subset (MME subtask, OODCV situation, corruption@severity) to its own
    metrics; `notes` says why a metric is missing (e.g. SPICE without its assets), so an
    absent number is never mistaken for a zero.
    """

    metrics: Mapping[str, float]
    stderr: Mapping[str, float] = field(default_factory=dict)
    breakdown: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)


MC_PROTOCOLS = ("auto", "loglikelihood", "letters", "letters-generated")
IMAGE_DETAILS = ("auto", "low", "high")
# How a LLaVA-layout LoRA folder is scored: as LLaVA's loader builds it, or as the 2023
# harness that measured the paper's text numbers did (see backends/adapters.py).
LORA_PROCEDURES = ("as-trained", "paper-harness")


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
        prompt: text-prompt settings from the YAML's `apply_chat_template`,
            `system_instruction`, `fewshot_as_multiturn`, `num_fewshot` and `gen_kwargs`
            keys (flags on `run` win).
        requests_per_minute: most requests sent per minute, across all threads (API
            backends; None: no limit).
        tokens_per_minute: most prompt + completion tokens per minute (as above).
        lora_procedure: how a LLaVA-layout LoRA adapter is applied: `as-trained` (LLaVA's
            loader: vocabulary resized, `non_lora_trainables.bin` loaded, LoRA merged) or
            `paper-harness` (the 2023 harness: LoRA on the unresized base, the rest ignored).
            None where the spec has no adapter.
        vision_tower: a local CLIP folder standing in for the hub id a checkpoint's
            `mm_vision_tower` names (original-LLaVA checkpoints, `llava:` backend).
        engine: loading and engine settings (`device_map`, `load_in`, `attn_implementation`,
            vLLM's `tensor_parallel_size`, ...) from the YAML's keys of those names.
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
    prompt: PromptSettings = field(default_factory=PromptSettings)
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    lora_procedure: str | None = None
    vision_tower: str | None = None
    engine: EngineSettings = field(default_factory=EngineSettings)

    def __post_init__(self) -> None:
        check_model_values(self)
        if self.lora_procedure is not None and self.lora_procedure not in LORA_PROCEDURES:
            raise SbtError(
                f"model {self.name!r}: lora_procedure must be one of {LORA_PROCEDURES}, "
                f"got {self.lora_procedure!r}"
            )
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
class HubRevision:
    """Which hub commit a task's records came from.

    Attributes:
        requested: the task's pinned commit, or `unpinned`.
        resolved: the commit the hub served (datasets reports it), None where unknown.
    """

    requested: str
    resolved: str | None
