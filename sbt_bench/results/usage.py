"""Token usage of API responses and the estimated cost of a task.

A task's usage is the sum over the responses its numbers were computed from, cached or
not: it is what producing those numbers costs, so a rerun from the cache reports the same
figure (and `timing.cached` in results.json says how much of it this run did not pay).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sbt_bench.core.types import ModelSpec, Response


@dataclass(frozen=True)
class Price:
    """USD per million prompt and completion tokens, and where the figures come from."""

    prompt_per_1m: float
    completion_per_1m: float
    source: str


@dataclass(frozen=True)
class Usage:
    """Tokens billed over a set of responses (`responses`: how many reported usage)."""

    prompt_tokens: int
    completion_tokens: int
    responses: int


# OpenAI list prices in USD per 1M tokens (prompt, completion), 2024-2025. Matched by the
# longest name prefix, so dated snapshots ("gpt-4-turbo-2024-04-09") find their family.
BUILTIN_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-1106": (10.0, 30.0),
    "gpt-4-0125": (10.0, 30.0),
    "gpt-4-vision-preview": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-2024-05-13": (5.0, 15.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-3.5-turbo": (0.5, 1.5),
}
BUILTIN_SOURCE = "built-in OpenAI list prices (USD, 2024-2025)"


_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


def price_for(spec: ModelSpec) -> Price | None:
    """The model YAML's prices, else the built-in table's (official API only), else None.

    The built-in table applies only without a `base_url`: a model served elsewhere under a
    familiar name is not billed at OpenAI's prices.
    """
    prompt, completion = spec.price_prompt_per_1m, spec.price_completion_per_1m
    if prompt is not None or completion is not None:
        return Price(prompt or 0.0, completion or 0.0, "model spec")
    if not spec.backend.startswith("openai") or spec.base_url is not None:
        return None
    # The name itself or a dated snapshot / preview of it: a longer name ("gpt-4.1-nano") is
    # another model with another price, never its prefix's.
    undated = spec.path.removesuffix("-preview")
    names = (spec.path, undated, _SNAPSHOT.sub("", undated))
    base = next((name for name in names if name in BUILTIN_PRICES), None)
    if base is None:
        return None
    prompt, completion = BUILTIN_PRICES[base]
    return Price(prompt, completion, BUILTIN_SOURCE)


def sum_usage(responses: Iterable[Response]) -> Usage | None:
    """Total billed tokens; None when no response reported usage (a local model)."""
    prompt = completion = counted = 0
    for response in responses:
        if response.prompt_tokens is None and response.completion_tokens is None:
            continue
        prompt += response.prompt_tokens or 0
        completion += response.completion_tokens or 0
        counted += 1
    return Usage(prompt, completion, counted) if counted else None


def estimate_cost(usage: Usage, price: Price | None) -> float | None:
    """USD for `usage` at `price`; None (unknown, not free) without a price.

    Example:
        >>> estimate_cost(Usage(1_000_000, 500_000, 10), Price(10.0, 30.0, "x"))
        25.0
    """
    if price is None:
        return None
    cost = (
        usage.prompt_tokens * price.prompt_per_1m
        + usage.completion_tokens * price.completion_per_1m
    )
    return round(cost / 1e6, 6)


def usage_entry(responses: Iterable[Response], price: Price | None) -> dict[str, Any]:
    """The `usage`/`cost_usd`/`price` fields of a task in results.json ({} for local models)."""
    usage = sum_usage(responses)
    if usage is None:
        return {}
    return {
        "usage": asdict(usage),
        "cost_usd": estimate_cost(usage, price),
        "price": None if price is None else asdict(price),
    }
