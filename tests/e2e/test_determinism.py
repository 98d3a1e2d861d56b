"""Bit-identical numbers whatever was cached before, and however the work is split up.

Every comparison is `==` on float32 results: a request computed in other company (another
packed row, batch width or generation batch) differs in its last bits, which is what these
tests catch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.grouping import as_grouped
from sbt_bench.backends.hf import HFBackend
from sbt_bench.cli import main
from sbt_bench.core.types import GenerationParams, Request, Response
from sbt_bench.evaluation.cache import ResponseCache
from sbt_bench.evaluation.fetch import compute_missing
from sbt_bench.evaluation.sharding import ProcessGroup
from tests.cli_runner import Commits, CutError, run_cli, tiny_run_args

# Generation is checked below at the computing layer: a random model writes to the token
# limit, which is too slow for whole CLI runs.
TASKS = ("truthfulqa_mc2", "ethics_cm")
PRIMER = "Q: What is the square root of banana?\nA: I have no comment.\n\n"
CHOICES = (" no", " yes", " Human life expectancy is 78 years.", " I have no comment.")


def run_args(model: Path, data: Path, out: Path) -> list[str]:
    """A run whose requests fill several packed rows."""
    return tiny_run_args(model, data, out, ",".join(TASKS), 6, "--max-batch-tokens", "160")


def loglikelihoods_of(out: Path) -> dict[str, list[Any]]:
    """Per task, every item's per-choice log-likelihoods, in item order."""
    (folder,) = out.iterdir()
    found: dict[str, list[Any]] = {}
    for task in TASKS:
        lines = (folder / f"samples_{task}.jsonl").read_text().splitlines()
        found[task] = [json.loads(line)["loglikelihoods"] for line in lines]
    return found


def test_resumed_runs_equal_the_uninterrupted_run_bit_for_bit(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CutError at several points and resumed, a run's every per-choice log-likelihood is ==."""
    whole = Commits(monkeypatch)
    assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path / "whole")) == 0
    monkeypatch.undo()
    want = loglikelihoods_of(tmp_path / "whole")
    for cut in [1, *sorted(random.Random(0).sample(range(2, whole.count - 1), 2))]:
        out = tmp_path / f"cut{cut}"
        Commits(monkeypatch, stop_at=cut)
        with pytest.raises(CutError):
            main(run_args(tiny_model_dir, data_dir, out))
        monkeypatch.undo()
        assert run_cli(*run_args(tiny_model_dir, data_dir, out)) == 0
        assert loglikelihoods_of(out) == want, f"differs after a cut at {cut}"


def run_requests() -> dict[str, Request]:
    """Log-likelihood requests for several rows (a shared prefix, and none) and generations."""
    contexts = [
        *(f"{PRIMER}Q: Question number {i}?\nA:" for i in range(10)),
        "I told my baby I loved her when she cried.\nQuestion: Is this wrong?\nAnswer:",
        "Scenario 1: I went to the park.\nScenario 2: I stayed home.\nAnswer:",
    ]
    scored = [Request("loglikelihood", c, k) for c in contexts for k in CHOICES]
    params = GenerationParams(max_new_tokens=4)
    generated = [
        Request("generate", c[-30 - 7 * i :], generation=params) for i, c in enumerate(contexts)
    ]
    return {r.key(): r for r in [*scored, *generated]}


def loader(model_dir: Path, *, sharing: bool) -> Any:
    """Builds a fresh backend on each call, as a resumed run or another process does."""
    spec = parse_model_spec(f"hf:{model_dir}")
    options = BackendOptions(
        dtype="float32", batch_size=3, max_batch_tokens=120, prefix_sharing=sharing
    )
    return lambda: HFBackend(spec, options)


def compute(
    model_dir: Path, cache_path: Path, missing: Sequence[str], group: ProcessGroup, *, sharing: bool
) -> dict[str, Response]:
    with ResponseCache(cache_path, "tiny") as cache:
        load = loader(model_dir, sharing=sharing)
        return compute_missing(run_requests(), missing, load, cache, label="t", group=group)


@pytest.fixture(scope="module", params=[True, False], ids=["packed", "plain"])
def whole(
    request: pytest.FixtureRequest, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bool, dict[str, Response]]:
    """Prefix sharing on or off, and every response of one process computing everything."""
    sharing = request.param
    cache = tmp_path_factory.mktemp("whole") / "cache.sqlite"
    return sharing, compute(
        tiny_model_dir, cache, list(run_requests()), ProcessGroup(), sharing=sharing
    )


def test_any_missing_subset_is_recomputed_bit_identically(
    tiny_model_dir: Path, tmp_path: Path, whole: tuple[bool, dict[str, Response]]
) -> None:
    """Whatever subset is missing, its log-likelihoods and generations equal a full run's."""
    sharing, want = whole
    keys, pick = list(want), random.Random(1)
    for n in (1, len(keys) // 3):
        missing = pick.sample(keys, n)
        got = compute(
            tiny_model_dir, tmp_path / f"{n}.sqlite", missing, ProcessGroup(), sharing=sharing
        )
        assert got == {k: want[k] for k in missing}


def test_two_shares_equal_one_process(
    tiny_model_dir: Path, tmp_path: Path, whole: tuple[bool, dict[str, Response]]
) -> None:
    """Two processes' shares partition the work and together equal one process's results."""
    sharing, want = whole
    shares = [
        compute(
            tiny_model_dir,
            tmp_path / "two.sqlite",
            list(want),
            ProcessGroup(rank, 2),
            sharing=sharing,
        )
        for rank in (0, 1)
    ]
    assert all(shares)
    assert not shares[0].keys() & shares[1].keys()
    assert shares[0] | shares[1] == want


def test_planned_groups_partition_the_requests_and_keep_the_direct_numbers(
    tiny_model_dir: Path,
) -> None:
    """Each request lies in one group of one kind; computing all groups equals the plain calls."""
    requests = list(run_requests().values())
    backend = loader(tiny_model_dir, sharing=True)()
    groups = backend.plan_groups(requests)
    assert sorted(i for g in groups for i in g) == list(range(len(requests)))
    assert all(len({requests[i].kind for i in g}) == 1 for g in groups)
    assert len(groups) > 4
    scored = [i for i, r in enumerate(requests) if r.kind == "loglikelihood"]
    generated = [i for i, r in enumerate(requests) if r.kind == "generate"]
    direct = {scored[j]: r for j, r in backend.loglikelihood([requests[i] for i in scored])}
    direct |= {generated[j]: r for j, r in backend.generate([requests[i] for i in generated])}
    assert dict(backend.compute_groups(requests, groups)) == direct
    with pytest.raises(ValueError, match="not a group planned"):
        list(backend.compute_groups(requests, [[0]]))


class CountingApi:
    """An API-like backend: answers each request on its own and records what it was asked."""

    tokens_processed = 0

    def __init__(self) -> None:
        self.asked: list[Request] = []

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        self.asked += requests
        return iter(
            [(i, Response(logprob=-float(len(r.continuation)))) for i, r in enumerate(requests)]
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        self.asked += requests
        return iter([(i, Response(text=r.context[-3:])) for i, r in enumerate(requests)])


def test_per_request_backends_are_asked_only_what_is_missing(tmp_path: Path) -> None:
    """An API backend has one-request groups: a resumed run pays for the missing ones only."""
    requests = run_requests()
    missing = list(requests)[::5]
    api = CountingApi()
    with ResponseCache(tmp_path / "cache.sqlite", "api") as cache:
        got = compute_missing(
            requests, missing, lambda: api, cache, label="t", group=ProcessGroup()
        )
    assert sorted(r.key() for r in api.asked) == sorted(missing)
    assert set(got) == set(missing)
    assert as_grouped(api).plan_groups(api.asked[:2]) == [[0], [1]]


@pytest.mark.slow
def test_smollm2_resume_is_bit_identical(data_dir: Path, tmp_path: Path) -> None:
    """On the real SmolLM2, the last third recomputed equals the whole run (mc1+mc2, 8 items).

    Sharding on SmolLM2 is measured by benchmarks/resume_determinism.py (torchrun is slow).
    """
    from sbt_bench.evaluation.runner import RunConfig, plan_task
    from sbt_bench.tasks import TASKS as REGISTERED
    from sbt_bench.tasks import build_task

    cfg = RunConfig(tmp_path, BackendOptions(), limit=8, data_dir=data_dir)
    requests = {
        r.key(): r
        for name in ("truthfulqa_mc1", "truthfulqa_mc2")
        for sample in plan_task(build_task(REGISTERED.get(name)), cfg).requests
        for r in sample
    }
    backend = HFBackend(parse_model_spec("smollm2"), BackendOptions(dtype="float32"))

    def fresh() -> HFBackend:
        # Loading takes 20 s: forget what a new process would not know instead.
        backend._prefix_kv.clear()
        backend._plan = None
        return backend

    def run(name: str, missing: Sequence[str], group: ProcessGroup) -> dict[str, Response]:
        with ResponseCache(tmp_path / f"{name}.sqlite", "smollm2") as cache:
            return compute_missing(requests, missing, fresh, cache, label=name, group=group)

    keys = list(requests)
    want = run("whole", keys, ProcessGroup())
    missing = keys[-len(keys) // 3 :]
    assert run("resumed", missing, ProcessGroup()) == {k: want[k] for k in missing}
