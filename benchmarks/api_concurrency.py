"""Requests per second of the openai backend against the loopback fake, by concurrency.

The fake server (tests/fake_openai.py) answers every request after a fixed latency, like
a remote API whose time is spent waiting, not computing. With one request in flight the
rate is bounded by 1/latency; concurrency should multiply it until the client or the
2-core machine saturates.

    python benchmarks/api_concurrency.py                       # 1, 8, 32 at 50 ms
    python benchmarks/api_concurrency.py --latency 0.2 --requests 256 --levels 1,8,32,64
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.fake_openai

from sbt_bench.backends import BackendOptions, ModelSpec
from sbt_bench.backends.openai_api import OpenAIBackend
from sbt_bench.core.types import GenerationParams, Request
from tests.fake_openai import serve


def measure(base_url: str, concurrency: int, n_requests: int) -> float:
    """Seconds to answer `n_requests` distinct chat requests with `concurrency` in flight."""
    spec = ModelSpec(
        name="fake", backend="openai", path="fake", base_url=base_url, concurrency=concurrency
    )
    backend = OpenAIBackend(spec, BackendOptions())
    params = GenerationParams(max_new_tokens=8)
    requests = [Request("generate", f"Question {i}?", generation=params) for i in range(n_requests)]
    start = time.perf_counter()
    answered = list(backend.generate(requests))
    seconds = time.perf_counter() - start
    failed = [r.error for _, r in answered if r.error is not None]
    if len(answered) != n_requests or failed:
        raise RuntimeError(f"{len(answered)}/{n_requests} answered, failures: {failed[:3]}")
    return seconds


def main() -> None:
    """Print a concurrency | requests | seconds | req/s | speed-up table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--requests", type=int, default=128, help="requests per level")
    parser.add_argument("--levels", default="1,8,32", help="comma-separated concurrencies")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = "sk-benchmark"
    levels = [int(x) for x in args.levels.split(",")]
    with serve() as server:
        server.latency = args.latency
        measure(server.base_url, 4, 8)  # warm up imports and connections
        print(f"latency {args.latency * 1000:.0f} ms per request, {args.requests} requests")
        print("| concurrency | requests | seconds | req/s | speed-up vs 1 |")
        print("|---:|---:|---:|---:|---:|")
        base = None
        for level in levels:
            seconds = measure(server.base_url, level, args.requests)
            rate = args.requests / seconds
            base = base or rate
            cells = (level, args.requests, f"{seconds:.2f}", f"{rate:.1f}", f"{rate / base:.1f}x")
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
