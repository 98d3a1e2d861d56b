"""Compute what the response cache lacks, in whole planned groups, each process its share.

The backend plans its groups over every request of the run, cached or not, and a group
with any member missing is computed whole: every request is always computed in the same
company (same packed row, padding and batch shape), so a resumed run, or a run split over
any number of processes, gives the numbers of one uninterrupted single-process run,
bit for bit. Members that were already cached are recomputed (to the same value) but not
written again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from tqdm import tqdm

from sbt_bench.backends import Backend
from sbt_bench.backends.grouping import as_grouped
from sbt_bench.core.types import Request, Response
from sbt_bench.evaluation.cache import ResponseCache
from sbt_bench.evaluation.sharding import ProcessGroup


def compute_missing(
    requests: Mapping[str, Request],
    missing: Collection[str],
    load: Callable[[], Backend],
    cache: ResponseCache,
    *,
    label: str,
    group: ProcessGroup,
) -> dict[str, Response]:
    """Commit and return the missing responses this process computed.

    Args:
        requests: every distinct request of the run by cache key, in the same order on
            every process (the plan is a function of it).
        missing: the keys the cache lacks; empty means the model is never loaded.
        load: the backend, loaded on first call.
        cache: where each computed response is committed as it arrives.
        label: names the progress bars.
        group: this process's place in the run; it takes every world_size-th group.
    """
    if not missing:
        return {}
    keys, todo = list(requests), set(missing)
    listed = list(requests.values())
    backend = as_grouped(load())
    groups = [g for g in backend.plan_groups(listed) if any(keys[i] in todo for i in g)]
    computed: dict[str, Response] = {}
    for kind in ("loglikelihood", "generate"):
        mine = group.share([g for g in groups if listed[g[0]].kind == kind])
        if not mine:
            continue
        desc = f"{label} ({kind})" + (f" [rank {group.rank}]" if group.world_size > 1 else "")
        with tqdm(total=sum(map(len, mine)), desc=desc, unit="req", leave=False) as bar:
            for index, response in backend.compute_groups(listed, mine):
                key = keys[index]
                if key in todo:
                    if response.error is None:  # failures are never cached: a rerun retries
                        cache.put(key, response)
                    computed[key] = response
                bar.update()
    return computed
