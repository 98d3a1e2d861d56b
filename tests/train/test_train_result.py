"""The trainer reports losses as means over windows of logged steps, not single steps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sbt_train.trainer import LOSS_WINDOW, TrainResult


def test_means_cover_a_window_at_each_end() -> None:
    """With 40 logged losses, each end's mean covers LOSS_WINDOW steps."""
    losses = tuple(float(i) for i in range(40))
    result = TrainResult(Path("out"), 40, losses)
    assert result.loss_window == LOSS_WINDOW
    assert result.first_mean_loss == pytest.approx(sum(losses[:LOSS_WINDOW]) / LOSS_WINDOW)
    assert result.final_mean_loss == pytest.approx(sum(losses[-LOSS_WINDOW:]) / LOSS_WINDOW)


def test_short_runs_average_at_most_half_the_log_at_each_end() -> None:
    """Six logged losses: three at each end, so the two means share no step."""
    result = TrainResult(Path("out"), 6, (6.0, 4.0, 5.0, 1.0, 3.0, 2.0))
    assert result.loss_window == 3
    assert (result.first_mean_loss, result.final_mean_loss) == (5.0, 2.0)
    assert result.describe_losses() == (
        "mean loss 5.0000 (first 3 logged steps) -> 2.0000 (last 3)"
    )


def test_no_logged_loss_gives_nan() -> None:
    """A run that logged nothing reports NaN, never a made-up number."""
    result = TrainResult(Path("out"), 0, ())
    assert math.isnan(result.first_mean_loss)
    assert math.isnan(result.final_mean_loss)
