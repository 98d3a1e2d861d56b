"""The openai backend against a loopback fake server: scoring route, faults, resume, secrecy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbt_bench.metrics import choice_accuracy, true_mass
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.source import load_records
from tests.cli_runner import results_of, run_cli
from tests.fake_openai import SECRET, FakeOpenAI, token_logprob, tokenize


def model_file(
    tmp_path: Path, server: FakeOpenAI, kind: str = "openai-completions", **extra: object
) -> str:
    options = {"timeout": 1, "max_retries": 2, **extra}
    lines = [
        f"name: fake-{kind}",
        f"model: {kind}:fake-model",
        f"base_url: {server.base_url}",
        *(f"{k}: {v}" for k, v in options.items()),
    ]
    path = tmp_path / "model.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def run(model: str, tasks: str, data_dir: Path, out: Path, limit: int = 4) -> int:
    args = ["--tasks", tasks, "--models", model, "--limit", str(limit)]
    return run_cli("run", *args, "--data-dir", str(data_dir), "--output-dir", str(out))


def expected_loglikelihood(context: str, continuation: str) -> float:
    prompt = context + continuation
    return sum(token_logprob(prompt[:o], t) for o, t in tokenize(prompt) if o >= len(context))


def test_completions_route_scores_truthfulqa_from_prompt_logprobs(
    server: FakeOpenAI, data_dir: Path, tmp_path: Path
) -> None:
    """mc1/mc2 through completions+echo equal the scores computed from the same logprobs."""
    assert (
        run(
            model_file(tmp_path, server),
            "truthfulqa_mc1,truthfulqa_mc2",
            data_dir,
            tmp_path / "out",
        )
        == 0
    )
    results = results_of(tmp_path / "out")
    for name, metric in (("truthfulqa_mc1", choice_accuracy), ("truthfulqa_mc2", true_mass)):
        task = build_task(TASKS.get(name))
        records = load_records(name, task.spec.dataset, data_dir)[:4]
        scores = []
        for i, record in enumerate(records):
            sample = task.build_samples(i, record, None)[0]
            lls = [expected_loglikelihood(r.context, r.continuation) for r in task.requests(sample)]
            scores.append(metric(lls, sample.gold))
        got = results["tasks"][name]["metrics"]["acc"]  # type: ignore[index]
        assert got == pytest.approx(sum(scores) / len(scores), abs=1e-9)
    assert all(body.get("echo") for body in server.bodies)


def test_transient_faults_are_survived(server: FakeOpenAI, data_dir: Path, tmp_path: Path) -> None:
    """429, 500, a hang past the timeout, a broken body and a dropped connection are retried."""
    clean_out = tmp_path / "clean"
    assert run(model_file(tmp_path, server), "ethics_cm", data_dir, clean_out) == 0
    server.faults = ["429", "500", "hang", "badjson", "drop"]
    faulty_out = tmp_path / "faulty"
    # One request at a time: all five faults hit the same request in a row.
    model = model_file(tmp_path, server, concurrency=1, max_retries=5)
    assert run(model, "ethics_cm", data_dir, faulty_out) == 0
    assert server.faults == []
    clean, faulty = results_of(clean_out), results_of(faulty_out)
    assert faulty["tasks"]["ethics_cm"]["n_failed"] == 0  # type: ignore[index]
    assert faulty["tasks"]["ethics_cm"]["metrics"] == clean["tasks"]["ethics_cm"]["metrics"]  # type: ignore[index]


def test_permanent_failure_is_reported_not_scored_then_retried(
    server: FakeOpenAI, data_dir: Path, tmp_path: Path
) -> None:
    """Failed items are counted, not scored, exit 1; a rerun resends only their requests."""
    out = tmp_path / "out"
    server.always = "500"
    assert run(model_file(tmp_path, server), "ethics_cm", data_dir, out) == 1
    entry = results_of(out)["tasks"]["ethics_cm"]  # type: ignore[index]
    assert entry["n_failed"] == 4
    assert entry["n_samples"] == 0
    assert entry["metrics"]["acc"] is None  # no scored item: undefined, written as null

    server.always = None
    server.requests.clear()
    assert run(model_file(tmp_path, server), "ethics_cm", data_dir, out) == 0
    assert sum(server.requests.values()) == 8  # 4 items x 2 choices, nothing else
    assert results_of(out)["tasks"]["ethics_cm"]["n_failed"] == 0  # type: ignore[index]


def test_rerun_sends_no_request_twice(server: FakeOpenAI, data_dir: Path, tmp_path: Path) -> None:
    """Everything answered is cached: an identical rerun sends nothing."""
    model = model_file(tmp_path, server, kind="openai")
    assert run(model, "ethics_virtue,truthfulqa_gen", data_dir, tmp_path / "out") == 0
    sent = sum(server.requests.values())
    assert run(model, "ethics_virtue,truthfulqa_gen", data_dir, tmp_path / "out") == 0
    assert sum(server.requests.values()) == sent


def test_chat_generation_and_stop(server: FakeOpenAI, data_dir: Path, tmp_path: Path) -> None:
    """truthfulqa_gen goes through chat completions with the task's stop string."""
    assert (
        run(
            model_file(tmp_path, server, kind="openai"),
            "truthfulqa_gen",
            data_dir,
            tmp_path / "out",
            limit=2,
        )
        == 0
    )
    assert server.requests == {"/v1/chat/completions": 2}
    assert all(body["stop"] == ["\n\n"] for body in server.bodies)
    (samples,) = (tmp_path / "out").glob("*/samples_truthfulqa_gen.jsonl")
    first = json.loads(samples.read_text().splitlines()[0])
    assert first["generation"].startswith("Reply to")
    assert "\n\n" not in first["generation"]


def test_api_key_is_never_written(server: FakeOpenAI, data_dir: Path, tmp_path: Path) -> None:
    """The key is read from the environment only: no results, samples or cache file holds it."""
    out = tmp_path / "out"
    assert run(model_file(tmp_path, server), "ethics_cm", data_dir, out) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_concurrency_comes_from_the_model_spec(server: FakeOpenAI, tmp_path: Path) -> None:
    """The model's `concurrency` sets requests in flight; --batch-size does not cap it."""
    from sbt_bench.backends import BackendOptions, build_backend, parse_model_spec

    spec = parse_model_spec(model_file(tmp_path, server, concurrency=32))
    backend = build_backend(spec, BackendOptions(batch_size=8))
    assert backend.concurrency == 32  # type: ignore[attr-defined]


def test_429_waits_for_retry_after(server: FakeOpenAI, tmp_path: Path) -> None:
    """A 429 with Retry-After: 1 delays the retry by at least that second, then succeeds."""
    import time

    from sbt_bench.backends import BackendOptions, parse_model_spec
    from sbt_bench.backends.openai_api import OpenAIBackend
    from sbt_bench.core.types import GenerationParams, Request

    backend = OpenAIBackend(
        parse_model_spec(model_file(tmp_path, server, kind="openai")), BackendOptions()
    )
    server.faults = ["429"]
    start = time.perf_counter()
    ((_, response),) = backend.generate(
        [Request("generate", "Q: hi", generation=GenerationParams(8))]
    )
    assert response.error is None
    assert time.perf_counter() - start >= 1.0


def test_wrong_key_stops_the_run_with_one_line(server: FakeOpenAI, tmp_path: Path) -> None:
    """A 401 fails every item alike, so it is one SbtError naming the key variable."""
    from sbt_bench.backends import BackendOptions, parse_model_spec
    from sbt_bench.backends.openai_api import OpenAIBackend
    from sbt_bench.core.errors import SbtError
    from sbt_bench.core.types import Request

    backend = OpenAIBackend(
        parse_model_spec(model_file(tmp_path, server, kind="openai")), BackendOptions()
    )
    server.faults = ["401"] * 4
    with pytest.raises(SbtError, match="OPENAI_API_KEY") as raised:
        list(backend.generate([Request("generate", f"Q: {i}") for i in range(4)]))
    assert SECRET not in str(raised.value)
    assert "***" in str(raised.value)
