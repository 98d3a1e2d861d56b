"""Prefix-shared packing: groups, shared prefixes, row layout and the block attention mask."""

from __future__ import annotations

import torch

from sbt_bench.backends.packing import (
    MIN_GROUPS_SHARING,
    MIN_SHARED_PREFIX,
    Group,
    build_attention_mask,
    cluster_by_prefix,
    group_by_context,
    pack_groups,
    plan_bins,
)

PRIMER = tuple(range(100, 100 + MIN_SHARED_PREFIX + 2))


def test_requests_with_one_context_form_one_group() -> None:
    """Two choices of one question share a group; another question gets its own."""
    groups = group_by_context([(0, (1, 2), (5,)), (1, (1, 2), (6, 7)), (2, (1, 3), (5,))])
    assert [g.members for g in groups] == [((0, (5,)), (1, (6, 7))), ((2, (5,)),)]


def test_shared_prefix_is_common_part_minus_one_own_token() -> None:
    """Contexts primer+[i] share the primer; each keeps at least one token of its own."""
    groups = [Group((*PRIMER, i, 3), ((i, (9,)),)) for i in range(MIN_GROUPS_SHARING)]
    ((prefix, members),) = cluster_by_prefix(groups)
    assert prefix == PRIMER
    assert len(members) == MIN_GROUPS_SHARING
    # One context is the primer plus one token: the prefix stops short of that token.
    short = [*groups[1:], Group((*PRIMER[:-1], 7), ((0, (9,)),))]
    assert cluster_by_prefix(short)[0][0] == PRIMER[:-1]


def test_prefix_shared_by_few_contexts_is_not_cached() -> None:
    """A long prefix shared by fewer than MIN_GROUPS_SHARING contexts is packed, not cached."""
    groups = [Group((*PRIMER, i), ((i, (9,)),)) for i in range(MIN_GROUPS_SHARING - 1)]
    assert cluster_by_prefix(groups) == [((), groups)]


def test_short_common_prefix_is_not_shared() -> None:
    """Contexts agreeing on fewer than MIN_SHARED_PREFIX tokens share one prefix-less cluster."""
    groups = [Group((1, 2, 3), ((0, (9,)),)), Group((5, 2, 4), ((1, (9,)),))]
    assert cluster_by_prefix(groups) == [((), groups)]


def test_pack_group_layout() -> None:
    """Context suffix once, then each choice with positions restarting after the context."""
    row = pack_groups([Group((7, 8, 1, 2), ((3, (5, 6)), (4, (9,))))], prefix_len=2)
    assert row.tokens == (1, 2, 5, 6, 9)
    assert row.positions == (2, 3, 4, 5, 4)
    assert row.segments == (0, 0, 1, 1, 2)
    assert row.predictor_offsets() == [1, 2]
    # Choice (5, 6) is predicted at offsets 1 (last context token) and 2 (token 5);
    # choice (9,) at offset 1 too.
    assert row.targets == ((3, (1, 2), (5, 6)), (4, (1,), (9,)))


def test_mask_blocks_other_choices_but_not_context_or_prefix() -> None:
    """Choice 2 sees the prefix, the context and itself, never choice 1; padding sees the prefix."""
    row = pack_groups([Group((7, 8, 1, 2), ((3, (5, 6)), (4, (9,))))], prefix_len=2)
    mask = build_attention_mask([row], prefix_len=2, width=6, dtype=torch.float32)
    allowed = (mask[0, 0] == 0).int()
    assert allowed.shape == (6, 8)
    assert allowed[4].tolist() == [1, 1, 1, 1, 0, 0, 1, 0]  # choice 2: prefix, context, itself
    assert allowed[3].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]  # choice 1, second token
    assert allowed[5].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]  # padding


def test_mask_without_prefix_keeps_padding_rows_finite() -> None:
    """With no prefix, padding attends to itself so softmax never sees an all-masked row."""
    row = pack_groups([Group((1,), ((0, (5,)),))], prefix_len=0)
    mask = build_attention_mask([row], prefix_len=0, width=3, dtype=torch.float32)
    assert ((mask[0, 0] == 0).sum(-1) >= 1).all()


def test_two_groups_in_one_row_never_see_each_other() -> None:
    """Packed questions are isolated: the second's tokens see only the prefix and itself."""
    first = Group((7, 8, 1), ((0, (5,)),))
    second = Group((7, 8, 2, 3), ((1, (6,)),))
    row = pack_groups([first, second], prefix_len=2)
    assert row.tokens == (1, 5, 2, 3, 6)
    assert row.owners == (0, 0, 1, 1, 1)
    assert row.positions == (2, 3, 2, 3, 4)
    assert row.targets == ((0, (0,), (5,)), (1, (3,), (6,)))
    allowed = (build_attention_mask([row], 2, 5, torch.float32)[0, 0] == 0).int()
    assert allowed[4].tolist() == [1, 1, 0, 0, 1, 1, 1]


def test_plan_bins_fills_rows_up_to_the_budget() -> None:
    """Groups are packed first-fit, longest first, into rows of at most max_tokens."""
    groups = [Group((1, i), ((i, (5,) * n),)) for i, n in enumerate([6, 2, 5, 1])]
    rows = [pack_groups(b, 1) for b in plan_bins(groups, prefix_len=1, max_tokens=8)]
    # Lengths 7, 6, 3, 2 (suffix + choice): 7 alone, 6 + 2, then 3 (7 + 3 > 8).
    assert [len(r.tokens) for r in rows] == [7, 8, 3]
    assert sorted(i for r in rows for i, _, _ in r.targets) == [0, 1, 2, 3]
