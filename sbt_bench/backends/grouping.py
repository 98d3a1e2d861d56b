"""Fixed groups of requests: the unit in which the runner recomputes and shards work.

A local model computes requests in company (a packed row, a padded batch), and the company
changes the last bits of every number in it. A backend that plans its groups over the
whole request list, and computes any chosen group exactly as planned, makes the numbers
independent of which requests were cached and of how many processes share the work.
API backends answer each request on its own; `as_grouped` gives them one-request groups.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from sbt_bench.backends.base import Backend
from sbt_bench.core.types import Request, Response


@runtime_checkable
class GroupedBackend(Protocol):
    """A backend that computes requests in fixed groups planned over the whole list."""

    def plan_groups(self, requests: Sequence[Request]) -> list[list[int]]:
        """A partition of the request indices into groups that are always computed together.

        Depends on the whole list only (never on what is cached), and is the same on every
        process; groups never mix request kinds.
        """
        ...

    def compute_groups(
        self, requests: Sequence[Request], groups: Sequence[Sequence[int]]
    ) -> Iterator[tuple[int, Response]]:
        """(request index, response) for every member of the chosen planned groups."""
        ...


class PerRequest:
    """A backend whose requests are independent (API calls): each is a group of its own."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def plan_groups(self, requests: Sequence[Request]) -> list[list[int]]:
        """One group per request."""
        return [[i] for i in range(len(requests))]

    def compute_groups(
        self, requests: Sequence[Request], groups: Sequence[Sequence[int]]
    ) -> Iterator[tuple[int, Response]]:
        """The chosen requests, log-likelihoods first, through the backend's own calls."""
        chosen = [i for group in groups for i in group]
        for kind, run in (
            ("loglikelihood", self.backend.loglikelihood),
            ("generate", self.backend.generate),
        ):
            indices = [i for i in chosen if requests[i].kind == kind]
            if indices:
                for j, response in run([requests[i] for i in indices]):
                    yield indices[j], response


def as_grouped(backend: Backend) -> GroupedBackend:
    """The backend itself where it plans groups, else one group per request.

    Example:
        >>> class Echo:
        ...     tokens_processed = 0
        ...     def loglikelihood(self, requests):
        ...         return iter([(i, Response(logprob=-1.0)) for i in range(len(requests))])
        ...     def generate(self, requests):
        ...         return iter([(i, Response(text=r.context)) for i, r in enumerate(requests)])
        >>> as_grouped(Echo()).plan_groups([Request("generate", "a"), Request("generate", "b")])
        [[0], [1]]
    """
    return backend if isinstance(backend, GroupedBackend) else PerRequest(backend)
