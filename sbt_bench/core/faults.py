"""A test-only fault hook: kill this process at a named point, to test crash safety.

`SBT_BENCH_TEST_KILL_AT=<point>:<n>` makes the process SIGKILL itself the n-th time it
reaches `<point>` (e.g. `cache-put:7` after the seventh committed response, or
`commit-staged:1` after the samples files are staged but before results.json is written).
The chaos test (tests/e2e/test_chaos.py) uses it to cut runs at exact places; unset,
it costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "SBT_BENCH_TEST_KILL_AT"


def kill_point(point: str, count: int = 1) -> None:
    """SIGKILL this process if $SBT_BENCH_TEST_KILL_AT names `point` and `count`."""
    if os.environ.get(KILL_ENV) == f"{point}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)
