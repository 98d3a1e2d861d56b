"""Hugging Face causal-LM backend: batched log-likelihood and greedy generation.

Log-likelihoods follow lm-evaluation-harness exactly (context and continuation tokenised
as lm-eval's `_encode_pair`, no BOS, right padding, requests sorted by length) so that
numbers match it; padding never reaches a scored position, so results do not depend on
batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import torch
from transformers import DynamicCache

from sbt_bench.backends.base import BackendOptions
from sbt_bench.backends.hf_loading import (
    load_tokenizer_and_model,
    max_context_length,
    resolve_device,
    resolve_dtype,
)
from sbt_bench.backends.packing import (
    Group,
    PackedRow,
    build_attention_mask,
    cluster_by_prefix,
    group_by_context,
    pack_groups,
    plan_bins,
)
from sbt_bench.types import GenerationParams, ModelSpec, Request, Response

_T = TypeVar("_T")
# `--batch-size auto` starts here and halves on out-of-memory errors.
_AUTO_START_BATCH = 64
_CPU_BATCH = 8
_CPU_BATCH_TOKENS = 512
_AUTO_START_TOKENS = 32768

# Distinct shared prefixes whose key/value caches stay in memory (one per task family).
_PREFIXES_KEPT = 4


@dataclass(frozen=True)
class _Row:
    """One continuation to score: its index in the request list and its tokens."""

    index: int
    context: tuple[int, ...]
    continuation: tuple[int, ...]


class HFBackend:
    """A transformers `AutoModelForCausalLM` (local folder, hub id or GGUF file)."""

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        self.spec = spec
        self.device = resolve_device(options.device)
        self.dtype = resolve_dtype(options.dtype, self.device)
        # None means `auto`: a fixed default on CPU, where memory is not what limits a
        # batch, and probing from a large size down on a GPU.
        on_cpu = self.device.type == "cpu"
        self.batch_size: int | None = options.batch_size or (_CPU_BATCH if on_cpu else None)
        # Measured on a 2-core CPU: short packed rows beat long ones (attention and the
        # logits grow with the row); a GPU wants far longer rows to fill its cores.
        self.max_batch_tokens: int | None = options.max_batch_tokens or (
            _CPU_BATCH_TOKENS if on_cpu else None
        )
        self.prefix_sharing = options.prefix_sharing
        self._prefix_kv: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.tokens_processed = 0
        self.tokens_generated = 0
        self.tokenizer, self.model = self._load()
        self.max_length = max_context_length(self.model, self.tokenizer)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)

    @staticmethod
    def accepts_images(_spec: ModelSpec) -> bool:
        """A causal LM reads text only (image tasks are refused before any work)."""
        return False

    def _load(self) -> tuple[Any, Any]:
        """The tokenizer and the eval-mode model on the device."""
        return load_tokenizer_and_model(self.spec, self.device, self.dtype)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _row(self, index: int, request: Request) -> _Row:
        """Tokenise a request's (context, continuation) exactly as lm-eval's `_encode_pair`.

        Trailing context spaces move to the continuation, and the continuation's tokens are
        those of (context + continuation) after the context's.
        """
        context, continuation = request.context, request.continuation
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        context_ids = self._encode(context)
        if not context_ids:
            prefix = self.tokenizer.bos_token_id
            context_ids = (prefix if prefix is not None else self.tokenizer.eos_token_id,)
            return _Row(index, context_ids, self._encode(continuation))
        whole = self._encode(context + continuation)
        return _Row(index, context_ids, whole[len(context_ids) :])

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Score every continuation, sharing context computation unless turned off."""
        rows = [self._row(i, r) for i, r in enumerate(requests)]
        if not self.prefix_sharing:
            yield from self._score_plain(rows)
            return
        fits = [len(r.context) + len(r.continuation) <= self.max_length for r in rows]
        yield from self._score_plain([r for r, ok in zip(rows, fits, strict=True) if not ok])
        groups = group_by_context(
            [(r.index, r.context, r.continuation) for r, ok in zip(rows, fits, strict=True) if ok]
        )
        for prefix, members in cluster_by_prefix(groups):
            yield from self._score_cluster(members, prefix)

    def _score_cluster(
        self, groups: Sequence[Group], prefix: tuple[int, ...]
    ) -> Iterator[tuple[int, Response]]:
        """Score packed rows of a cluster.

        In auto mode an out-of-memory row halves the token budget and the rows not yet
        scored are planned again.
        """
        budget = self.max_batch_tokens or _AUTO_START_TOKENS
        bins = plan_bins(groups, len(prefix), budget)
        done = 0
        while done < len(bins):
            try:
                results = list(self._score_packed(pack_groups(bins[done], len(prefix)), prefix))
            except torch.OutOfMemoryError:
                if self.max_batch_tokens or len(bins[done]) == 1:
                    raise  # a fixed budget, or one question alone does not fit
                budget //= 2
                _release_memory()
                remaining = [g for b in bins[done:] for g in b]
                bins = bins[:done] + plan_bins(remaining, len(prefix), budget)
                continue
            done += 1
            yield from results

    @torch.inference_mode()
    def _score_packed(
        self, row: PackedRow, prefix: tuple[int, ...]
    ) -> Iterator[tuple[int, Response]]:
        """One forward pass over a packed row; logits only where a target token is predicted."""
        keep = row.predictor_offsets()
        self.tokens_processed += len(row.tokens)
        column = {offset: c for c, offset in enumerate(keep)}
        mask = build_attention_mask([row], len(prefix), len(row.tokens), self.dtype, self.device)
        logits = self._forward(
            keep,
            input_ids=torch.tensor([row.tokens], device=self.device),
            position_ids=torch.tensor([row.positions], device=self.device),
            attention_mask=mask,
            past_key_values=self._prefix_cache(prefix),
        )[0]
        logprobs = torch.log_softmax(_at_least_fp32(logits), dim=-1)
        for index, predictors, tokens in row.targets:
            yield index, self._score_continuation(logprobs[[column[p] for p in predictors]], tokens)

    def _score_continuation(self, logprobs: torch.Tensor, tokens: Sequence[int]) -> Response:
        """Sum of the tokens' log-probabilities, and whether each was the argmax.

        `logprobs` holds one row per token: the log-softmax at the position predicting it.
        """
        target = torch.tensor(tokens, device=self.device)
        token_lp = logprobs.gather(-1, target[:, None]).squeeze(-1)
        greedy = bool((logprobs.argmax(-1) == target).all())
        return Response(logprob=float(token_lp.sum()), is_greedy=greedy)

    def _prefix_cache(self, prefix: tuple[int, ...]) -> Any:
        """A fresh cache object holding the prefix's keys and values (computed once)."""
        if not prefix:
            return None
        if prefix not in self._prefix_kv:
            if len(self._prefix_kv) >= _PREFIXES_KEPT:
                self._prefix_kv.pop(next(iter(self._prefix_kv)))
            self._prefix_kv[prefix] = self._encode_prefix(prefix)
        cache = DynamicCache()
        for layer, (keys, values) in enumerate(self._prefix_kv[prefix]):
            cache.update(keys, values, layer)
        return cache

    @torch.inference_mode()
    def _encode_prefix(self, prefix: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ids = torch.tensor([prefix], device=self.device)
        self.tokens_processed += len(prefix)
        cache = self.model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _score_plain(self, rows: Sequence[_Row]) -> Iterator[tuple[int, Response]]:
        """lm-eval's path: each (context, continuation) is one right-padded sequence."""
        # Longest first, as lm-eval: the first batch shows at once whether memory suffices.
        ordered = sorted(rows, key=lambda r: (-(len(r.context) + len(r.continuation)), r.index))
        yield from self._in_batches(ordered, lambda batch: list(self._score_batch(batch)))

    def _in_batches(
        self,
        items: Sequence[_T],
        run: Callable[[Sequence[_T]], list[tuple[int, Response]]],
        batch_size: int | None = None,
    ) -> Iterator[tuple[int, Response]]:
        """Run `items` in batches of `batch_size`; with `auto`, start large and halve on OOM.

        The size is found afresh for every call (every task mix), since a size found on
        short requests would not fit long ones. `batch_size` overrides the run's setting.
        """
        fixed = batch_size or self.batch_size
        size = fixed or _AUTO_START_BATCH
        start = 0
        while start < len(items):
            try:
                results = run(items[start : start + size])
            except torch.OutOfMemoryError:
                if fixed or size == 1:
                    raise
                size //= 2
                _release_memory()
                continue
            start += size
            yield from results

    @torch.inference_mode()
    def _score_batch(self, rows: Sequence[_Row]) -> Iterator[tuple[int, Response]]:
        inputs = [(row.context + row.continuation)[-(self.max_length + 1) :][:-1] for row in rows]
        width = max(len(x) for x in inputs)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([list(x) + [pad] * (width - len(x)) for x in inputs], device=self.device)
        # Only the positions that predict continuation tokens need logits.
        spans = [
            range(len(x) - len(row.continuation), len(x))
            for x, row in zip(inputs, rows, strict=True)
        ]
        keep = sorted({p for span in spans for p in span})
        self.tokens_processed += sum(len(x) for x in inputs)
        logits = self._forward(keep, input_ids=ids)
        column = {p: c for c, p in enumerate(keep)}
        logprobs = torch.log_softmax(_at_least_fp32(logits), dim=-1)
        for b, (row, span) in enumerate(zip(rows, spans, strict=True)):
            lp = logprobs[b, [column[p] for p in span]]
            yield row.index, self._score_continuation(lp, row.continuation)

    def _forward(self, keep: list[int], **inputs: Any) -> torch.Tensor:
        """Logits at the sequence positions in `keep` only, [batch, len(keep), vocab]."""
        positions = torch.tensor(keep, device=self.device)
        try:
            return self.model(**inputs, logits_to_keep=positions).logits  # type: ignore[no-any-return]
        except TypeError:  # architectures without `logits_to_keep` compute every position
            return self.model(**inputs).logits[:, positions]  # type: ignore[no-any-return]

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Greedy generation in length-sorted batches of requests with equal settings."""
        return self._generate_grouped(requests, range(len(requests)), self._generate_batch)

    def _generate_grouped(
        self,
        requests: Sequence[Request],
        indices: Iterable[int],
        run: Callable[[Sequence[Request], Sequence[int]], Iterator[tuple[int, Response]]],
        batch_size: int | None = None,
    ) -> Iterator[tuple[int, Response]]:
        """`run` over batches of requests sharing generation settings, longest prompt first."""
        by_settings: dict[GenerationParams, list[int]] = {}
        for i in indices:
            by_settings.setdefault(requests[i].generation, []).append(i)
        for group in by_settings.values():
            group.sort(key=lambda i: (-len(self._encode(requests[i].context)), i))
            yield from self._in_batches(
                group, lambda batch: list(run(requests, batch)), batch_size=batch_size
            )

    @torch.inference_mode()
    def _generate_batch(
        self, requests: Sequence[Request], indices: Sequence[int]
    ) -> Iterator[tuple[int, Response]]:
        params = requests[indices[0]].generation
        budget = max(1, self.max_length - params.max_new_tokens)
        prompts = [self._encode(requests[i].context)[-budget:] for i in indices]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        stopper = StopStrings(self.tokenizer, params.stop, width)
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=params.max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad,
            eos_token_id=self.tokenizer.eos_token_id,
            stopping_criteria=[stopper],
        )
        yield from self._decode_new(out[:, width:], indices, params.stop, sum(map(len, prompts)))

    def _decode_new(
        self, new_tokens: torch.Tensor, indices: Sequence[int], stops: Sequence[str], n_prompt: int
    ) -> Iterator[tuple[int, Response]]:
        """Each row's generated text, cut at its first stop string; counts the tokens."""
        # Rows that stopped early are padded; pad is often EOS, so this slightly undercounts.
        generated = int((new_tokens != self.tokenizer.pad_token_id).sum())
        self.tokens_generated += generated
        self.tokens_processed += n_prompt + generated
        for index, tokens in zip(indices, new_tokens, strict=True):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            yield index, Response(text=cut_at_stop(text, stops))


def _release_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _at_least_fp32(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are upcast before log-softmax; float64 stays float64."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """The text before the earliest stop string (the whole text when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


class StopStrings:
    """Per-row stopping: a row is done once its generated text contains a stop string."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, _scores: torch.Tensor, **_: Any) -> torch.Tensor:
        """A per-row flag: True where the row's generated text holds a stop string."""
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if not self.stops:
            return done
        for b, row in enumerate(input_ids[:, self.prompt_width :]):
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            done[b] = any(s in text for s in self.stops)
        return done
