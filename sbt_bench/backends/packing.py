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

# A cached prefix costs a forward pass of its own and splits rows by prefix, so it pays
# only when it is long enough and shared by enough contexts (ETHICS' minimal pairs share
# long prefixes two by two, and packing them together is faster than caching each pair).
MIN_SHARED_PREFIX = 8
MIN_GROUPS_SHARING = 8


@dataclass(frozen=True)
class Group:
    """Requests with one context: (request index, continuation tokens) per member."""

    context: tuple[int, ...]
    members: tuple[tuple[int, tuple[int, ...]], ...]


@dataclass(frozen=True)
class PackedRow:
    """Groups laid out one after another after a shared prefix of `prefix_len` tokens.

    Attributes:
        tokens: per group, its context suffix and then each continuation in turn.
        positions: absolute position ids (the prefix occupies 0..prefix_len-1).
        owners: which group (0, 1, ...) each token belongs to.
        segments: 0 for a context suffix, k for the group's k-th continuation (k >= 1).
        targets: per request, its index, the row offsets whose logits predict its tokens,
            and those tokens.
    """

    tokens: tuple[int, ...]
    positions: tuple[int, ...]
    owners: tuple[int, ...]
    segments: tuple[int, ...]
    targets: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]

    def predictor_offsets(self) -> list[int]:
        """Every row offset whose logits some target reads, sorted."""
        return sorted({p for _, predictors, _ in self.targets for p in predictors})


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
    Clusters too small or with too short a prefix merge into one prefix-less cluster.
    """
    clusters: dict[tuple[int, ...], list[Group]] = defaultdict(list)
    for group in groups:
        clusters[group.context[:MIN_SHARED_PREFIX]].append(group)
    shared: dict[tuple[int, ...], list[Group]] = defaultdict(list)
    for members in clusters.values():
        prefix = _common_prefix([g.context for g in members])
        prefix = prefix[: min(len(g.context) for g in members) - 1]
        # Unshared contexts all go into one cluster so that they still pack together.
        worth_it = len(prefix) >= MIN_SHARED_PREFIX and len(members) >= MIN_GROUPS_SHARING
        shared[prefix if worth_it else ()] += members
    return list(shared.items())


def group_length(group: Group, prefix_len: int) -> int:
    """Tokens a group occupies in a packed row."""
    return len(group.context) - prefix_len + sum(len(c) for _, c in group.members)


def plan_bins(groups: Sequence[Group], prefix_len: int, max_tokens: int) -> list[list[Group]]:
    """Split groups into rows of at most `max_tokens` tokens (first fit, longest first).

    Packing several groups into one row leaves no padding; a group longer than
    `max_tokens` gets a row of its own.
    """
    bins: list[list[Group]] = []
    sizes: list[int] = []
    for group in sorted(groups, key=lambda g: -group_length(g, prefix_len)):
        size = group_length(group, prefix_len)
        slot = next((i for i, used in enumerate(sizes) if used + size <= max_tokens), None)
        if slot is None:
            bins.append([group])
            sizes.append(size)
        else:
            bins[slot].append(group)
            sizes[slot] += size
    return bins


def pack_groups(groups: Sequence[Group], prefix_len: int) -> PackedRow:
    """Lay out groups one after another after a prefix of `prefix_len` tokens."""
    tokens: list[int] = []
    positions: list[int] = []
    owners: list[int] = []
    segments: list[int] = []
    targets = []
    for owner, group in enumerate(groups):
        suffix = group.context[prefix_len:]
        last_context = len(tokens) + len(suffix) - 1
        tokens += suffix
        positions += range(prefix_len, prefix_len + len(suffix))
        owners += [owner] * len(suffix)
        segments += [0] * len(suffix)
        start = prefix_len + len(suffix)
        for k, (index, continuation) in enumerate(group.members, start=1):
            offset = len(tokens)
            # Token j of a continuation is predicted at the previous token: the last
            # context token for j = 0, else continuation token j - 1.
            predictors = (last_context, *range(offset, offset + len(continuation) - 1))
            targets.append((index, predictors, continuation))
            tokens += continuation
            positions += range(start, start + len(continuation))
            owners += [owner] * len(continuation)
            segments += [k] * len(continuation)
    return PackedRow(
        tuple(tokens), tuple(positions), tuple(owners), tuple(segments), tuple(targets)
    )


def build_attention_mask(
    rows: Sequence[PackedRow],
    prefix_len: int,
    width: int,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Additive 4D mask [batch, 1, width, prefix_len + width]: 0 where attention is allowed.

    Every real token sees the whole prefix; within a row, token i sees token j <= i of the
    same group when j is in the group's context or in i's own continuation. Padding sees
    only the prefix (or itself when there is no prefix, so softmax never meets an
    all-masked row). Built on `device`: the mask is rows x width x (prefix + width), which
    on a GPU's long packed rows is too big to build on the host and copy.
    """
    allowed = torch.zeros(len(rows), 1, width, prefix_len + width, dtype=torch.bool, device=device)
    allowed[..., :prefix_len] = True
    if prefix_len == 0:
        diagonal = torch.arange(width, device=device)
        allowed[..., diagonal, diagonal] = True
    for b, row in enumerate(rows):
        n = len(row.tokens)
        owner = torch.tensor(row.owners, device=device)
        seg = torch.tensor(row.segments, device=device)
        visible = (owner[:, None] == owner[None, :]) & (
            (seg[:, None] == seg[None, :]) | (seg[None, :] == 0)
        )
        allowed[b, 0, :n, prefix_len : prefix_len + n] = visible.tril()
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)


def _common_prefix(sequences: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    first, last = min(sequences), max(sequences)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]
