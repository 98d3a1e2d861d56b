"""Generation helpers: prompts laid out after a shared prefix keep their own positions."""

from __future__ import annotations

import pytest
import torch

from sbt_bench.backends.generation import pad_after_prefix


def test_padding_sits_between_prefix_and_suffix_and_positions_are_unpadded() -> None:
    """Rows are prefix, pad, suffix; positions counted over unmasked tokens run 0..len-1."""
    prompts = [(7, 8, 1), (7, 8, 1, 2, 3)]
    ids, mask = pad_after_prefix((7, 8), prompts, pad=0)
    assert ids.tolist() == [[7, 8, 0, 0, 1], [7, 8, 1, 2, 3]]
    assert mask.tolist() == [[1, 1, 0, 0, 1], [1, 1, 1, 1, 1]]
    positions = mask.cumsum(-1) - 1
    assert positions[0, -1] == len(prompts[0]) - 1
    assert positions[1].tolist() == list(range(5))


def test_without_a_prefix_it_is_left_padding() -> None:
    """An empty prefix gives the plain left-padded batch."""
    ids, mask = pad_after_prefix((), [(1,), (1, 2)], pad=9)
    assert torch.equal(ids, torch.tensor([[9, 1], [1, 2]]))
    assert mask.tolist() == [[0, 1], [1, 1]]


@pytest.mark.parametrize("prompts", [[(7, 9, 1)], [(7, 8)]])
def test_a_prompt_that_does_not_extend_the_prefix_is_refused(
    prompts: list[tuple[int, ...]],
) -> None:
    """A prompt that differs from the prefix, or equals it, cannot use its cache."""
    with pytest.raises(ValueError, match="extend the shared prefix"):
        pad_after_prefix((7, 8), prompts, pad=0)
