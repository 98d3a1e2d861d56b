"""Prefix-shared packing: groups, shared prefixes, row layout and the block attention mask."""

from __future__ import annotations

import torch

from sbt_bench.backends.packing import (
    MIN_SHARED_PREFIX,
    Group,
    build_attention_mask,
    cluster_by_prefix,
    group_by_context,
    pack_group,
)

PRIMER = tuple(range(100, 100 + MIN_SHARED_PREFIX + 2))


def test_requests_with_one_context_form_one_group() -> None:
    """Two choices of one question share a group; another question gets its own."""
    groups = group_by_context([(0, (1, 2), (5,)), (1, (1, 2), (6, 7)), (2, (1, 3), (5,))])
    assert [g.members for g in groups] == [((0, (5,)), (1, (6, 7))), ((2, (5,)),)]


def test_shared_prefix_is_common_part_minus_one_own_token() -> None:
    """Contexts primer+[1] and primer+[2,3] share the primer; each keeps >= 1 own token."""
    groups = [Group((*PRIMER, 1), ((0, (9,)),)), Group((*PRIMER, 2, 3), ((1, (9,)),))]
    ((prefix, members),) = cluster_by_prefix(groups)
    assert prefix == PRIMER
    assert len(members) == 2
    # Identical contexts: the prefix stops one token short so logits exist for choice 1.
    same = [Group((*PRIMER, 1), ((0, (9,)),)), Group((*PRIMER, 1, 4), ((1, (9,)),))]
    assert cluster_by_prefix(same)[0][0] == PRIMER


def test_short_common_prefix_is_not_shared() -> None:
    """Contexts agreeing on fewer than MIN_SHARED_PREFIX tokens get no cached prefix."""
    groups = [Group((1, 2, 3), ((0, (9,)),)), Group((1, 2, 4), ((1, (9,)),))]
    assert all(prefix == () for prefix, _ in cluster_by_prefix(groups))


def test_pack_group_layout() -> None:
    """Context suffix once, then each choice with positions restarting after the context."""
    row = pack_group(Group((7, 8, 1, 2), ((3, (5, 6)), (4, (9,)))), prefix_len=2)
    assert row.tokens == (1, 2, 5, 6, 9)
    assert row.positions == (2, 3, 4, 5, 4)
    assert row.segments == (0, 0, 1, 1, 2)
    # Choice (5, 6) is predicted at offsets 1 (last context token) and 2 (token 5);
    # choice (9,) at offset 1 too.
    assert row.targets == ((3, (1, 2), (5, 6)), (4, (1,), (9,)))


def test_mask_blocks_other_choices_but_not_context_or_prefix() -> None:
    """Choice 2 sees the prefix, the context and itself, never choice 1; padding sees the prefix."""
    row = pack_group(Group((7, 8, 1, 2), ((3, (5, 6)), (4, (9,)))), prefix_len=2)
    mask = build_attention_mask([row], prefix_len=2, width=6, dtype=torch.float32)
    allowed = (mask[0, 0] == 0).int()
    assert allowed.shape == (6, 8)
    assert allowed[4].tolist() == [1, 1, 1, 1, 0, 0, 1, 0]  # choice 2: prefix, context, itself
    assert allowed[3].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]  # choice 1, second token
    assert allowed[5].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]  # padding


def test_mask_without_prefix_keeps_padding_rows_finite() -> None:
    """With no prefix, padding attends to itself so softmax never sees an all-masked row."""
    row = pack_group(Group((1,), ((0, (5,)),)), prefix_len=0)
    mask = build_attention_mask([row], prefix_len=0, width=3, dtype=torch.float32)
    assert ((mask[0, 0] == 0).sum(-1) >= 1).all()
