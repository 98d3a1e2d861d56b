"""Requests- and tokens-per-minute limits: the bucket's pacing, YAML validation, the fake server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.base import fingerprint
from sbt_bench.backends.openai_api import OpenAIBackend
from sbt_bench.backends.rate_limit import RateLimiter, TokenBucket
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import GenerationParams, Request
from tests.backends.test_openai_api import model_file
from tests.cli_runner import run_cli
from tests.fake_openai import FakeOpenAI


class FakeClock:
    """A clock that only moves when the bucket sleeps, so pacing is exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_serves_one_seconds_burst_then_paces_at_the_rate() -> None:
    """120 per minute: two takes at once, then one every half second."""
    clock = FakeClock()
    bucket = TokenBucket(120.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(6):
        bucket.take(1.0)
        stamps.append(clock.now)
    assert stamps == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])


def test_underestimated_tokens_leave_debt_that_delays_the_next_request() -> None:
    """A response using more tokens than reserved makes the next request wait for the excess."""
    clock = FakeClock()
    limiter = RateLimiter(None, TokenBucket(600.0, clock=clock, sleep=clock.sleep))  # 10 tok/s
    limiter.acquire(10)
    limiter.settle(10, 40)  # 30 tokens over the estimate: 3 s of debt
    limiter.acquire(10)
    assert clock.now == pytest.approx(4.0)


def test_overestimated_tokens_are_refunded() -> None:
    """A response using fewer tokens than reserved gives the rest back at once."""
    clock = FakeClock()
    limiter = RateLimiter(None, TokenBucket(600.0, clock=clock, sleep=clock.sleep))
    limiter.acquire(10)
    limiter.settle(10, 2)
    limiter.acquire(8)
    assert clock.now == 0.0


@pytest.mark.parametrize("value", ["0", "-5", "fast", "true"])
def test_model_yaml_rejects_a_limit_that_is_not_a_positive_number(
    tmp_path: Path, value: str
) -> None:
    """requests_per_minute: 0, negative, text or a boolean is one error naming the key."""
    path = tmp_path / "m.yaml"
    path.write_text(f"model: openai:gpt-x\nrequests_per_minute: {value}\n", encoding="utf-8")
    with pytest.raises(SbtError, match=r"requests_per_minute\W.*(above 0|number)"):
        parse_model_spec(str(path))


def test_bad_limit_on_the_command_line_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI prints the validation error on one line and exits with status 2."""
    path = tmp_path / "m.yaml"
    path.write_text("model: openai:gpt-x\ntokens_per_minute: -1\n", encoding="utf-8")
    assert run_cli("run", "--tasks", "truthfulqa_mc1", "--models", str(path)) == 2
    assert "tokens_per_minute must be above 0" in capsys.readouterr().err


def test_limits_do_not_change_the_model_fingerprint(server: FakeOpenAI, tmp_path: Path) -> None:
    """Pacing never changes a response, so cached answers stay valid when limits change."""
    plain = parse_model_spec(model_file(tmp_path, server, kind="openai"))
    limited = parse_model_spec(
        model_file(tmp_path, server, kind="openai", requests_per_minute=10, tokens_per_minute=99)
    )
    assert fingerprint(plain, BackendOptions()) == fingerprint(limited, BackendOptions())


def test_requests_per_minute_holds_across_concurrent_threads(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    """At 120 rpm, 7 requests on 8 threads take at least 2.5 s (2 at once, then 2 per second)."""
    spec = parse_model_spec(
        model_file(tmp_path, server, kind="openai", requests_per_minute=120, concurrency=8)
    )
    backend = OpenAIBackend(spec, BackendOptions())
    requests = [Request("generate", f"Q: {i}", generation=GenerationParams(4)) for i in range(7)]
    start = time.perf_counter()
    responses = [r for _, r in backend.generate(requests)]
    elapsed = time.perf_counter() - start
    assert all(r.error is None for r in responses)
    assert server.requests["/v1/chat/completions"] == 7
    assert 2.5 <= elapsed < 6.0
