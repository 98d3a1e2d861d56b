"""What the generating backends share: stop strings, per-request seeds, prompt layout.

A batch of prompts that start with the same cached prefix (TruthfulQA's primer) is laid
out as the prefix, then left padding, then each prompt's own tokens, with an attention
mask that hides the padding: the model's position ids, counted over unmasked tokens,
are then exactly those of the unpadded prompt, so the prefix's keys and values can be
computed once and reused by every row and batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from sbt_bench.core.types import Request


def seed_of(request: Request) -> int:
    """The sampling seed of a request: reruns (and other batchings) sample the same answer."""
    return int(hashlib.sha256(request.key().encode()).hexdigest()[:8], 16)


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """The text before the earliest stop string (the whole text when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


def pad_after_prefix(
    prefix: Sequence[int], prompts: Sequence[Sequence[int]], pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask: `prefix`, left padding, then each prompt's suffix.

    Every prompt starts with `prefix` and is longer than it. Without a prefix this is
    plain left padding.
    """
    n = len(prefix)
    suffixes = [list(p[n:]) for p in prompts]
    if any(list(p[:n]) != list(prefix) or not s for p, s in zip(prompts, suffixes, strict=True)):
        raise ValueError("every prompt must extend the shared prefix by at least one token")
    width = max(len(s) for s in suffixes)
    ids = [[*prefix, *[pad] * (width - len(s)), *s] for s in suffixes]
    mask = [[1] * n + [0] * (width - len(s)) + [1] * len(s) for s in suffixes]
    return torch.tensor(ids), torch.tensor(mask)


class StopStrings:
    """Per-row stopping: a row is done once its generated text contains a stop string."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, _scores: torch.Tensor, **_: Any) -> torch.Tensor:
        """A per-row flag: True where the row's generated text holds a stop string."""
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if not self.stops:
            return done
        for b, row in enumerate(input_ids[:, self.prompt_width :]):
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            done[b] = any(s in text for s in self.stops)
        return done
