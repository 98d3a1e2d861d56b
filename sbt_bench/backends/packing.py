"""Prefix-shared packing of log-likelihood requests (pure logic, no model).

Requests whose contexts are identical form a *group*; groups whose contexts start with
the same tokens (the TruthfulQA primer, say) share a *prefix* whose key/value cache is
computed once. Each group then becomes one packed row: the rest of its context once,
followed by every continuation, with a block attention mask so each continuation sees the
prefix, the context and itself but no other continuation, and position ids that restart
after the context for each continuation. The maths is exactly that of scoring
`context + continuation` one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Contexts sharing fewer leading tokens than this are not worth a cached prefix.
MIN_SHARED_PREFIX = 8


@dataclass(frozen=True)
class Group:
    """Requests with one context: (request index, continuation tokens) per member."""

    context: tuple[int, ...]
    members: tuple[tuple[int, tuple[int, ...]], ...]


@dataclass(frozen=True)
class PackedRow:
    """One group laid out after a shared prefix of `prefix_len` tokens.

    Attributes:
        tokens: context suffix, then each continuation in turn.
        positions: absolute position ids (the prefix occupies 0..prefix_len-1).
        segments: 0 for the context suffix, k for the k-th continuation (k >= 1).
        targets: per member, its request index, the row offsets whose logits predict its
            tokens, and those tokens.
    """

    tokens: tuple[int, ...]
    positions: tuple[int, ...]
    segments: tuple[int, ...]
    targets: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]


def group_by_context(pairs: Sequence[tuple[int, tuple[int, ...], tuple[int, ...]]]) -> list[Group]:
    """Group (index, context, continuation) triples by context, keeping first-seen order."""
    members: dict[tuple[int, ...], list[tuple[int, tuple[int, ...]]]] = defaultdict(list)
    for index, context, continuation in pairs:
        members[context].append((index, continuation))
    return [Group(context, tuple(m)) for context, m in members.items()]


def cluster_by_prefix(groups: Sequence[Group]) -> list[tuple[tuple[int, ...], list[Group]]]:
    """Clusters of groups with the common token prefix they share (possibly empty).

    Groups are clustered by their first MIN_SHARED_PREFIX tokens; the shared prefix is the
    longest common prefix of the cluster, cut so every context keeps at least one token
    of its own (the last context token's logits predict the first continuation token).
    """
    clusters: dict[tuple[int, ...], list[Group]] = defaultdict(list)
    for group in groups:
        clusters[group.context[:MIN_SHARED_PREFIX]].append(group)
    out = []
    for members in clusters.values():
        prefix = _common_prefix([g.context for g in members])
        prefix = prefix[: min(len(g.context) for g in members) - 1]
        out.append((prefix if len(prefix) >= MIN_SHARED_PREFIX else (), members))
    return out


def pack_group(group: Group, prefix_len: int) -> PackedRow:
    """Lay out one group after a prefix of `prefix_len` tokens."""
    suffix = group.context[prefix_len:]
    tokens = list(suffix)
    positions = list(range(prefix_len, prefix_len + len(suffix)))
    segments = [0] * len(suffix)
    targets = []
    start = prefix_len + len(suffix)
    for k, (index, continuation) in enumerate(group.members, start=1):
        offset = len(tokens)
        # Token j of the continuation is predicted at the previous token: the last context
        # token for j = 0, else continuation token j - 1 (at row offset offset + j - 1).
        predictors = (len(suffix) - 1, *range(offset, offset + len(continuation) - 1))
        targets.append((index, predictors, continuation))
        tokens += continuation
        positions += range(start, start + len(continuation))
        segments += [k] * len(continuation)
    return PackedRow(tuple(tokens), tuple(positions), tuple(segments), tuple(targets))


def build_attention_mask(
    rows: Sequence[PackedRow], prefix_len: int, width: int, dtype: torch.dtype
) -> torch.Tensor:
    """Additive 4D mask [batch, 1, width, prefix_len + width]: 0 where attention is allowed.

    Every real token sees the whole prefix; within a row, token i sees token j <= i when j
    is in the context suffix or in i's own continuation. Padding sees only the prefix.
    """
    allowed = torch.zeros(len(rows), 1, width, prefix_len + width, dtype=torch.bool)
    allowed[..., :prefix_len] = True
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    for b, row in enumerate(rows):
        n = len(row.tokens)
        seg = torch.tensor(row.segments)
        same_block = (seg[:, None] == seg[None, :]) | (seg[None, :] == 0)
        allowed[b, 0, :n, prefix_len : prefix_len + n] = same_block & causal[:n, :n]
    if prefix_len == 0:
        # Padding rows must see something, or softmax over an all-masked row gives NaN.
        allowed[..., torch.arange(width), torch.arange(width)] = True
    mask = torch.zeros(allowed.shape, dtype=dtype)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)


def _common_prefix(sequences: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    first, last = min(sequences), max(sequences)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]
