"""Error bars on breakdowns: MME per subtask (acc, acc+, score), OODCV per situation and count."""

from __future__ import annotations

import math

import pytest

from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.tasks.breakdown_bars import breakdown_estimates, compare_breakdowns
from sbt_bench.tasks.error_bars import CAPTION_NOTE

Z = 1.959963984540054


def mme_items(pattern: list[tuple[int, int]], subtask: str = "existence") -> list[ItemResult]:
    """Two answers per image, right (1) or wrong (0) as `pattern` says, image k = img{k}."""
    out = []
    for k, answers in enumerate(pattern):
        for j, ok in enumerate(answers):
            sample = Sample(
                f"{subtask}{k}-{j}", "q", references=("yes",), subset=subtask,
                pair=f"img{k}", cluster=f"img{k}",
            )  # fmt: skip
            out.append(ItemResult(sample, "yes", {"correct": float(ok)}))
    return out


def wilson(p: float, n: float) -> tuple[float, float]:
    """The Wilson score interval, written out by hand."""
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def test_mme_subtask_intervals_match_a_hand_computed_clustered_case() -> None:
    """4 images: (1,1), (1,0), (0,0), (1,1): acc, acc+ and score intervals computed by hand."""
    bars, note = breakdown_estimates("mme", mme_items([(1, 1), (1, 0), (0, 0), (1, 1)]))
    assert note is None
    acc, acc_plus, score = (bars["existence"][m] for m in ("acc", "acc_plus", "score"))
    # acc: 5 of 8 answers. Cluster residual sums 0.75, -0.25, -1.25, 0.75 -> 2.75.
    clustered_var = 4 / 3 * 2.75 / 64
    independent_var = (5 * 0.375**2 + 3 * 0.625**2) / 7 / 8
    n_eff = 8 / (clustered_var / independent_var)
    assert acc.value == pytest.approx(62.5)
    assert acc.stderr == pytest.approx(100 * math.sqrt(clustered_var))
    assert (acc.ci_low, acc.ci_high) == pytest.approx(tuple(100 * x for x in wilson(0.625, n_eff)))
    assert acc.n_clusters == 4
    assert acc.interval == "wilson-design-effect"
    # acc+: 2 of 4 images have both answers right; images are independent.
    assert acc_plus.value == pytest.approx(50.0)
    assert (acc_plus.ci_low, acc_plus.ci_high) == pytest.approx(
        tuple(100 * x for x in wilson(0.5, 4))
    )
    # score: per-image 50 c_g + 100 b_g = 200, 50, 0, 200; mean 112.5 = 62.5 + 50.
    se = math.sqrt((87.5**2 + 62.5**2 + 112.5**2 + 87.5**2) / 3 / 4)
    assert score.value == pytest.approx(112.5)
    assert score.stderr == pytest.approx(se)
    assert score.ci_low == pytest.approx(112.5 - Z * se)
    assert score.ci_high == 200.0  # 112.5 + 1.96 SE = 213.5, past the score's maximum


def test_mme_breakdown_comparison_pairs_images_and_keeps_percent() -> None:
    """The other model right everywhere: acc difference +37.5 points, in [-100, 100]."""
    base = mme_items([(1, 1), (1, 0), (0, 0), (1, 1)])
    other = mme_items([(1, 1)] * 4)
    rows = {r.metric: r for r in compare_breakdowns("mme", base, other)["existence"]}
    assert rows["acc"].difference == pytest.approx(37.5)
    assert rows["acc_plus"].difference == pytest.approx(50.0)
    assert rows["score"].difference == pytest.approx(87.5)
    for row in rows.values():
        assert -200 <= row.ci_low <= row.difference <= row.ci_high <= 200


def oodcv_item(i: int, situation: str, gold: str, ok: int) -> ItemResult:
    """An OODCV-VQA item of one situation with a yes/no or count answer."""
    sample = Sample(f"o{i}", "q", references=(gold,), subset=situation, cluster=f"img{i // 2}")
    return ItemResult(sample, gold, {"correct": float(ok)})


def test_oodcv_situations_and_counts_get_clustered_shares() -> None:
    """Per situation (accuracy, yes/no, number) and per count: Wilson-type intervals in [0, 1]."""
    items = [
        oodcv_item(0, "weather", "Yes", 1), oodcv_item(1, "weather", "2", 0),
        oodcv_item(2, "weather", "No", 1), oodcv_item(3, "pose", "2", 1),
        oodcv_item(4, "pose", "Yes", 0), oodcv_item(5, "pose", "3", 1),
    ]  # fmt: skip
    bars, _ = breakdown_estimates("oodcv", items)
    assert set(bars) == {"pose", "weather", "count=2", "count=3"}
    assert bars["weather"]["accuracy"].value == pytest.approx(2 / 3)
    assert bars["weather"]["number"].value == 0.0
    assert bars["count=2"]["accuracy"].n == 2
    assert set(bars["count=2"]) == {"accuracy", "pose", "weather"}
    for part in bars.values():
        for e in part.values():
            assert 0.0 <= e.ci_low <= e.value <= e.ci_high <= 1.0
            assert e.interval.startswith("wilson")


def test_caption_breakdowns_keep_null_with_the_reason() -> None:
    """CIDEr per severity has no error bar: no estimates, and the caption note."""
    assert breakdown_estimates("caption_corruptions", []) == ({}, CAPTION_NOTE)
