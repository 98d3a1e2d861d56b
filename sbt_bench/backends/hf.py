"""Hugging Face causal-LM backend: batched log-likelihood and greedy generation.

Log-likelihoods follow lm-evaluation-harness exactly (context and continuation tokenised
as lm-eval's `_encode_pair`, no BOS, right padding, requests sorted by length) so that
numbers match it; padding never reaches a scored position, so results do not depend on
batch size beyond float rounding.

Requests are computed in fixed groups (a packed row, a padded batch, a generation batch)
planned over the whole request list: the runner recomputes and shards whole groups, so a
request's numbers never depend on what was cached or on how many processes share the work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, TypeVar

import torch
from transformers import DynamicCache

from sbt_bench.backends.base import BackendOptions
from sbt_bench.backends.generation import StopStrings, cut_at_stop, pad_after_prefix, seed_of
from sbt_bench.backends.hf_loading import (
    input_device,
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
from sbt_bench.core.types import GenerationParams, ModelSpec, Request, Response

_T = TypeVar("_T")
# `--batch-size auto` starts here and halves on out-of-memory errors.
_AUTO_START_BATCH = 64
_CPU_BATCH = 8
_CPU_BATCH_TOKENS = 512
_AUTO_START_TOKENS = 32768

# Distinct shared prefixes whose key/value caches stay in memory (one per task family).
_PREFIXES_KEPT = 4


@dataclass(frozen=True)
class WorkUnit:
    """Requests always computed together, and how: one packed row, padded batch or generation."""

    members: tuple[int, ...]
    compute: Callable[[], list[tuple[int, Response]]]


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
        self.offline = options.offline
        self._prefix_kv: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.tokens_processed = 0
        self.tokens_generated = 0
        self.tokenizer, self.model = self._load()
        self.device = input_device(self.model, self.device)
        self.max_length = max_context_length(self.model, self.tokenizer)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)
        # The last plan: the runner plans a run's requests once, then computes some groups.
        self._plan: tuple[tuple[Request, ...], list[WorkUnit]] | None = None

    @staticmethod
    def accepts_images(_spec: ModelSpec) -> bool:
        """A causal LM reads text only (image tasks are refused before any work)."""
        return False

    def _load(self) -> tuple[Any, Any]:
        """The tokenizer and the eval-mode model on the device."""
        return load_tokenizer_and_model(self.spec, self.device, self.dtype, offline=self.offline)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _row(self, index: int, request: Request) -> _Row:
        context, continuation = encode_pair(self._encode, self.tokenizer, request)
        return _Row(index, context, continuation)

    def plan_groups(self, requests: Sequence[Request]) -> list[list[int]]:
        """The fixed groups of request indices that are always computed together.

        A function of the whole list only: `compute_groups` computes any of these groups
        exactly as when all of them are computed.
        """
        return [list(unit.members) for unit in self._units(requests)]

    def compute_groups(
        self, requests: Sequence[Request], groups: Sequence[Sequence[int]]
    ) -> Iterator[tuple[int, Response]]:
        """Compute some of the groups `plan_groups(requests)` returned, each as planned."""
        units = {unit.members: unit for unit in self._units(requests)}
        for group in groups:
            unit = units.get(tuple(group))
            if unit is None:
                raise ValueError(f"{list(group)} is not a group planned for these requests")
            yield from unit.compute()

    def _units(self, requests: Sequence[Request]) -> list[WorkUnit]:
        """Every request's unit, both kinds, planned once per request list."""
        key = tuple(requests)
        if self._plan is None or self._plan[0] != key:
            kinds = [r.kind for r in requests]
            scored = [i for i, kind in enumerate(kinds) if kind == "loglikelihood"]
            generated = [i for i, kind in enumerate(kinds) if kind == "generate"]
            units = self._plan_loglikelihood(requests, scored)
            self._plan = (key, units + self._plan_generate(requests, generated))
        return self._plan[1]

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Score every continuation, sharing context computation unless turned off."""
        for unit in self._plan_loglikelihood(requests, range(len(requests))):
            yield from unit.compute()

    def _plan_loglikelihood(
        self, requests: Sequence[Request], indices: Iterable[int]
    ) -> list[WorkUnit]:
        """Packed rows per shared prefix, and plain batches for what does not pack."""
        rows = [self._row(i, requests[i]) for i in indices]
        if not self.prefix_sharing:
            return self._plan_plain(rows)
        fits = [len(r.context) + len(r.continuation) <= self.max_length for r in rows]
        units = self._plan_plain([r for r, ok in zip(rows, fits, strict=True) if not ok])
        groups = group_by_context(
            [(r.index, r.context, r.continuation) for r, ok in zip(rows, fits, strict=True) if ok]
        )
        budget = self.max_batch_tokens or _AUTO_START_TOKENS
        for prefix, members in cluster_by_prefix(groups):
            for packed in plan_bins(members, len(prefix), budget):
                score = partial(self._score_groups, prefix=prefix)
                units.append(
                    WorkUnit(
                        tuple(index for g in packed for index, _ in g.members),
                        partial(self._split_on_oom, packed, score, self.max_batch_tokens),
                    )
                )
        return units

    def _score_groups(
        self, groups: Sequence[Group], prefix: tuple[int, ...]
    ) -> list[tuple[int, Response]]:
        """One packed row of `groups` after the shared `prefix`."""
        return list(self._score_packed(pack_groups(groups, len(prefix)), prefix))

    def _split_on_oom(
        self,
        items: Sequence[_T],
        run: Callable[[Sequence[_T]], list[tuple[int, Response]]],
        fixed: int | None,
    ) -> list[tuple[int, Response]]:
        """`run(items)`; in auto mode (no `fixed` size) out of memory splits them in halves.

        The split depends only on the items, never on what ran before, so a resumed run
        splits a group the same way.
        """
        try:
            return run(items)
        except torch.OutOfMemoryError:
            if fixed or len(items) == 1:
                raise  # a fixed size, or one item alone does not fit
        # Outside the handler, so the traceback's tensors are already freed.
        _release_memory()
        half = (len(items) + 1) // 2
        return self._split_on_oom(items[:half], run, fixed) + self._split_on_oom(
            items[half:], run, fixed
        )

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
            **{_cache_keyword(self.model): self._prefix_cache(prefix)},
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

    def _prefix_cache(self, prefix: tuple[int, ...], rows: int = 1) -> Any:
        """A fresh cache holding the prefix's keys and values (computed once) for `rows` rows."""
        if not prefix:
            return None
        if prefix not in self._prefix_kv:
            if len(self._prefix_kv) >= _PREFIXES_KEPT:
                self._prefix_kv.pop(next(iter(self._prefix_kv)))
            self._prefix_kv[prefix] = self._encode_prefix(prefix)
        cache = DynamicCache()
        for layer, (keys, values) in enumerate(self._prefix_kv[prefix]):
            cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), layer)
        return cache

    @torch.inference_mode()
    def _encode_prefix(self, prefix: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ids = torch.tensor([prefix], device=self.device)
        self.tokens_processed += len(prefix)
        output = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = output[_cache_keyword(self.model)]
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _plan_plain(self, rows: Sequence[_Row]) -> list[WorkUnit]:
        """lm-eval's path: each (context, continuation) is one right-padded sequence."""
        # Longest first, as lm-eval: the first batch shows at once whether memory suffices.
        ordered = sorted(rows, key=lambda r: (-(len(r.context) + len(r.continuation)), r.index))
        size = self.batch_size
        return [
            WorkUnit(
                tuple(r.index for r in batch),
                partial(self._split_on_oom, batch, self._score_rows, size),
            )
            for batch in _chunks(ordered, size)
        ]

    def _score_rows(self, rows: Sequence[_Row]) -> list[tuple[int, Response]]:
        return list(self._score_batch(rows))

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
        for unit in self._plan_generate(requests, range(len(requests))):
            yield from unit.compute()

    def _plan_generate(self, requests: Sequence[Request], indices: Iterable[int]) -> list[WorkUnit]:
        """Generation batches of text prompts, per shared prefix unless sharing is off."""
        chosen = list(indices)
        if not self.prefix_sharing:
            return self._plan_generation_batches(requests, chosen, self._generate_batch)
        prompts = [Group(self._prompt_ids(requests[i]), ((i, ()),)) for i in chosen]
        units = []
        for prefix, groups in cluster_by_prefix(prompts):
            members = [g.members[0][0] for g in groups]
            run = partial(self._generate_batch, prefix=prefix)
            units += self._plan_generation_batches(requests, members, run)
        return units

    def _prompt_ids(self, request: Request) -> tuple[int, ...]:
        """A generation prompt's tokens, cut on the left to leave room for the answer."""
        budget = max(1, self.max_length - request.generation.max_new_tokens)
        return self._encode(request.context)[-budget:]

    def _plan_generation_batches(
        self,
        requests: Sequence[Request],
        indices: Iterable[int],
        run: Callable[[Sequence[Request], Sequence[int]], Iterator[tuple[int, Response]]],
        batch_size: int | None = None,
    ) -> list[WorkUnit]:
        """Batches of `run` over requests sharing generation settings, longest prompt first.

        `batch_size` overrides the run's setting.
        """
        by_settings: dict[GenerationParams, list[int]] = {}
        for i in indices:
            by_settings.setdefault(requests[i].generation, []).append(i)
        generate = partial(_run_listed, run, requests)
        units = []
        for params, group in by_settings.items():
            group.sort(key=lambda i: (-len(self._encode(requests[i].context)), i))
            # A sampled answer is seeded by its own request, so it never depends on which
            # other requests share its batch: one request at a time.
            size = 1 if params.do_sample else (batch_size or self.batch_size)
            units += [
                WorkUnit(tuple(batch), partial(self._split_on_oom, batch, generate, size))
                for batch in _chunks(group, size)
            ]
        return units

    @torch.inference_mode()
    def _generate_batch(
        self, requests: Sequence[Request], indices: Sequence[int], prefix: tuple[int, ...] = ()
    ) -> Iterator[tuple[int, Response]]:
        """One `generate` call; a shared `prefix` comes from its cached keys and values."""
        params = requests[indices[0]].generation
        prompts = [self._prompt_ids(requests[i]) for i in indices]
        pad = self.tokenizer.pad_token_id
        ids, mask = pad_after_prefix(prefix, prompts, pad)
        width = ids.shape[1]
        stopper = StopStrings(self.tokenizer, params.stop, width)
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None}
        if params.do_sample:
            torch.manual_seed(seed_of(requests[indices[0]]))
            sampling = {"do_sample": True, **params.sampling()}
        if prefix:
            sampling[_cache_keyword(self.model)] = self._prefix_cache(prefix, rows=len(indices))
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=params.max_new_tokens,
            top_k=None,
            **sampling,
            pad_token_id=pad,
            eos_token_id=self.tokenizer.eos_token_id,
            stopping_criteria=[stopper],
        )
        n_prompt = sum(map(len, prompts)) - len(prefix) * len(prompts)  # the prefix ran once
        yield from self._decode_new(out[:, width:], indices, params.stop, n_prompt)

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


def encode_pair(
    encode: Callable[[str], tuple[int, ...]], tokenizer: Any, request: Request
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tokenise a request's (context, continuation) exactly as lm-eval's `_encode_pair`.

    Trailing context spaces move to the continuation, and the continuation's tokens are
    those of (context + continuation) after the context's. An empty context becomes the
    BOS token (EOS where there is none).
    """
    context, continuation = request.context, request.continuation
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    context_ids = encode(context)
    if not context_ids:
        prefix = tokenizer.bos_token_id
        context_ids = (prefix if prefix is not None else tokenizer.eos_token_id,)
        return context_ids, encode(continuation)
    whole = encode(context + continuation)
    return context_ids, whole[len(context_ids) :]


def _chunks(items: Sequence[_T], size: int | None) -> list[Sequence[_T]]:
    """Consecutive batches of `size` items (auto, None: a large start, halved on OOM)."""
    step = size or _AUTO_START_BATCH
    return [items[start : start + step] for start in range(0, len(items), step)]


def _run_listed(
    run: Callable[[Sequence[Request], Sequence[int]], Iterator[tuple[int, Response]]],
    requests: Sequence[Request],
    indices: Sequence[int],
) -> list[tuple[int, Response]]:
    return list(run(requests, indices))


def _release_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _at_least_fp32(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are upcast before log-softmax; float64 stays float64."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _cache_keyword(model: Any) -> str:
    """The name of the key/value cache in the model's forward and its output.

    transformers 5.x calls it `cache`; `past_key_values` still works there but warns on every
    call (a FutureWarning on the terminal of every run), and is the only name before 5.x.
    """
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"
