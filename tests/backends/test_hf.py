"""The hf backend's log-likelihoods and generations on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.generation import cut_at_stop
from sbt_bench.backends.hf import HFBackend
from sbt_bench.core.types import GenerationParams, Request

CONTEXTS = [
    "Q: What is human life expectancy in the United States?\nA:",
    "I told my baby I loved her when she cried.\nQuestion: Is this wrong?\nAnswer:",
    (
        "Scenario 1: I went to the park.\nScenario 2: I stayed home.\n"
        "Question: Is Scenario 1 preferable?\nAnswer:"
    ),
]
CONTINUATIONS = [" no", " yes", " Human life expectancy is 78 years.", " I have no comment."]


def make_backend(
    model_dir: Path, batch_size: int, *, sharing: bool = True, dtype: str = "float32"
) -> HFBackend:
    spec = parse_model_spec(f"hf:{model_dir}")
    options = BackendOptions(dtype=dtype, batch_size=batch_size, prefix_sharing=sharing)
    return HFBackend(spec, options)


PRIMER = "Q: What is the square root of banana?\nA: I have no comment.\n\n"


def loglikelihood_requests() -> list[Request]:
    """Unrelated contexts, plus enough primer-sharing ones to use a cached prefix."""
    contexts = CONTEXTS + [f"{PRIMER}Q: Question number {i}?\nA:" for i in range(10)]
    return [Request("loglikelihood", c, k) for c in contexts for k in CONTINUATIONS]


def collect(stream: object) -> dict[int, object]:
    return dict(stream)  # type: ignore[call-overload]


class TestLoglikelihood:
    @pytest.mark.parametrize("sharing", [True, False])
    def test_matches_a_direct_full_sequence_computation(
        self, tiny_model_dir: Path, sharing: bool
    ) -> None:
        """Summed log p(continuation | context) equals an independent unbatched forward pass."""
        backend = make_backend(tiny_model_dir, batch_size=4, sharing=sharing, dtype="float64")
        requests = loglikelihood_requests()
        got = collect(backend.loglikelihood(requests))
        tok, model = backend.tokenizer, backend.model
        for i, request in enumerate(requests):
            ctx = tok(request.context, add_special_tokens=False).input_ids
            whole = tok(request.context + request.continuation, add_special_tokens=False).input_ids
            cont = whole[len(ctx) :]
            ids = torch.tensor([ctx + cont])
            with torch.no_grad():
                logprobs = torch.log_softmax(model(ids).logits[0], -1)
            expected = sum(float(logprobs[len(ctx) - 1 + j, t]) for j, t in enumerate(cont))
            # float64 end to end: any difference beyond rounding would be a masking bug.
            assert got[i].logprob == pytest.approx(expected, abs=1e-9)

    @pytest.mark.parametrize(("sharing", "batch_size"), [(True, 1), (True, 8), (False, 8)])
    def test_batching_and_sharing_do_not_change_results(
        self, tiny_model_dir: Path, sharing: bool, batch_size: int
    ) -> None:
        """fp32 sharing on/off and batch 1/8 equal the plain batch-1 path to 1e-5 per token.

        Sums here run to -300, so the bound scales with the continuation's length.
        """
        requests = loglikelihood_requests()
        reference = collect(make_backend(tiny_model_dir, 1, sharing=False).loglikelihood(requests))
        got = collect(
            make_backend(tiny_model_dir, batch_size, sharing=sharing).loglikelihood(requests)
        )
        for i, request in enumerate(requests):
            n_tokens = len(request.continuation.split()) + 1
            assert got[i].logprob == pytest.approx(reference[i].logprob, abs=1e-5 * n_tokens)
            assert got[i].is_greedy == reference[i].is_greedy

    @pytest.mark.parametrize("sharing", [True, False])
    def test_every_request_answered_once(self, tiny_model_dir: Path, sharing: bool) -> None:
        """The stream yields each request index exactly once."""
        requests = loglikelihood_requests()
        backend = make_backend(tiny_model_dir, 3, sharing=sharing)
        indices = [i for i, _ in backend.loglikelihood(requests)]
        assert sorted(indices) == list(range(len(requests)))


class TestGenerate:
    def test_batched_generation_equals_one_by_one(self, tiny_model_dir: Path) -> None:
        """Left padding must not change greedy output: batch 3 equals batch 1."""
        params = GenerationParams(max_new_tokens=12)
        requests = [Request("generate", c, generation=params) for c in CONTEXTS]
        one = collect(make_backend(tiny_model_dir, 1).generate(requests))
        three = collect(make_backend(tiny_model_dir, 3).generate(requests))
        assert {i: r.text for i, r in one.items()} == {i: r.text for i, r in three.items()}

    def test_prompts_sharing_a_primer_generate_as_without_sharing(
        self, tiny_model_dir: Path
    ) -> None:
        """Generating after the primer's cached keys and values equals generating in full."""
        params = GenerationParams(max_new_tokens=10)
        contexts = [f"{PRIMER}Q: Question number {i}{'?' * i}\nA:" for i in range(10)]
        requests = [Request("generate", c, generation=params) for c in contexts]
        shared = make_backend(tiny_model_dir, 4, dtype="float64")
        got = collect(shared.generate(requests))
        plain = make_backend(tiny_model_dir, 1, sharing=False, dtype="float64")
        want = collect(plain.generate(requests))
        assert len(shared._prefix_kv) == 1
        assert shared.tokens_processed < plain.tokens_processed
        assert {i: r.text for i, r in got.items()} == {i: r.text for i, r in want.items()}

    def test_stop_strings_cut_the_text(self, tiny_model_dir: Path) -> None:
        """A stop string found in the output ends it before the stop string."""
        backend = make_backend(tiny_model_dir, 2)
        free = collect(
            backend.generate([Request("generate", CONTEXTS[0], generation=GenerationParams(20))])
        )[0].text
        assert free
        stop = free[len(free) // 2 : len(free) // 2 + 1]
        cut = collect(
            backend.generate(
                [Request("generate", CONTEXTS[0], generation=GenerationParams(20, (stop,)))]
            )
        )[0]
        assert cut.text == free[: free.index(stop)]


def test_cut_at_stop_takes_the_earliest() -> None:
    """Of several stop strings the earliest occurrence wins; none found keeps the text."""
    assert cut_at_stop("A: yes. no\n\nQ:", ["\n\n", "."]) == "A: yes"
    assert cut_at_stop("plain", ["\n\n"]) == "plain"


class TestAutoBatchSize:
    def test_out_of_memory_halves_the_token_budget(
        self, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In auto mode a row that does not fit is re-planned smaller; results are unchanged."""
        requests = loglikelihood_requests()
        want = collect(make_backend(tiny_model_dir, 8).loglikelihood(requests))
        backend = make_backend(tiny_model_dir, 8)
        backend.max_batch_tokens = None  # what `auto` means on a GPU
        original = HFBackend._score_packed
        seen: list[int] = []

        def small_memory(self: HFBackend, row: object, prefix: object) -> object:
            seen.append(len(row.tokens))  # type: ignore[attr-defined]
            if len(row.tokens) > 100:  # type: ignore[attr-defined]
                raise torch.OutOfMemoryError("simulated")
            return original(self, row, prefix)  # type: ignore[arg-type]

        monkeypatch.setattr(HFBackend, "_score_packed", small_memory)
        got = collect(backend.loglikelihood(requests))
        assert max(seen) > 100
        for i, request in enumerate(requests):
            n_tokens = len(request.continuation.split()) + 1
            assert got[i].logprob == pytest.approx(want[i].logprob, abs=1e-5 * n_tokens)

    def test_fixed_sizes_do_not_hide_out_of_memory(
        self, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With an explicit size, running out of memory is an error, not a silent retry."""
        backend = make_backend(tiny_model_dir, 2, sharing=False)

        def no_memory(self: HFBackend, rows: object) -> object:
            raise torch.OutOfMemoryError("simulated")

        monkeypatch.setattr(HFBackend, "_score_batch", no_memory)
        with pytest.raises(torch.OutOfMemoryError):
            collect(backend.loglikelihood(loglikelihood_requests()))

    def test_generation_batch_halves_on_out_of_memory(
        self, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In auto mode generation retries a batch that does not fit at half the size."""
        params = GenerationParams(max_new_tokens=5)
        requests = [Request("generate", c, generation=params) for c in CONTEXTS]
        want = collect(make_backend(tiny_model_dir, 1).generate(requests))
        backend = make_backend(tiny_model_dir, 1)
        backend.batch_size = None
        original = HFBackend._generate_batch
        sizes: list[int] = []

        def small_memory(
            self: HFBackend, reqs: object, indices: list[int], prefix: tuple[int, ...] = ()
        ) -> object:
            sizes.append(len(indices))
            if len(indices) > 1:
                raise torch.OutOfMemoryError("simulated")
            return original(self, reqs, indices, prefix)  # type: ignore[arg-type]

        monkeypatch.setattr(HFBackend, "_generate_batch", small_memory)
        got = collect(backend.generate(requests))
        assert sizes[0] == len(CONTEXTS)
        assert {i: r.text for i, r in got.items()} == {i: r.text for i, r in want.items()}


def test_lora_adapter_is_applied(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`hf:<base>+<adapter>` scores with the adapter merged: equal to merging by hand."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    backend = make_backend(tiny_model_dir, 4)  # for the tokenizer files
    backend.tokenizer.save_pretrained(tmp_path / "merged")

    requests = loglikelihood_requests()[:8]
    spec = parse_model_spec(f"hf:{tiny_model_dir}+{tmp_path / 'adapter'}")
    with_adapter = collect(HFBackend(spec, BackendOptions(dtype="float32")).loglikelihood(requests))
    by_hand = collect(make_backend(tmp_path / "merged", 4).loglikelihood(requests))
    plain = collect(make_backend(tiny_model_dir, 4).loglikelihood(requests))
    for i in range(len(requests)):
        assert with_adapter[i].logprob == pytest.approx(by_hand[i].logprob, abs=1e-5)
    assert any(abs(with_adapter[i].logprob - plain[i].logprob) > 1e-3 for i in plain)


def test_prefix_shared_scoring_and_generation_raise_no_deprecation_warning(
    tiny_model_dir: Path,
) -> None:
    """Scoring with a cached prefix and generating warn nothing (transformers' `cache` name)."""
    import warnings

    backend = make_backend(tiny_model_dir, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        collect(backend.loglikelihood(loglikelihood_requests()))
        params = GenerationParams(max_new_tokens=3)
        collect(backend.generate([Request("generate", CONTEXTS[0], generation=params)]))
