"""Caption aggregators: `caption` (corpus metrics) and `caption_corruptions` (MSCOCO-C).

`caption` scores every item as one corpus; `caption_corruptions` scores each image variant
(clean, and each corruption at each severity) as its own corpus and reports the drop.

Items carry no scores of their own (scorer `none`): CIDEr's IDF and BLEU's brevity
penalty are corpus statistics, so the metrics are computed here, over each corpus at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sbt_bench.core.types import AggregateScores, ItemResult
from sbt_bench.metrics.captioning import (
    CAPTION_METRICS,
    CaptionScores,
    CaptionSet,
    score_caption_sets,
)
from sbt_bench.metrics.directions import METRIC_DIRECTIONS
from sbt_bench.metrics.stats import mean
from sbt_bench.tasks.aggregators import Aggregation

CLEAN = "clean"


def caption_scores(items: Sequence[ItemResult], _: tuple[str, ...]) -> AggregateScores:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr (and SPICE when it can run) x100 over every item."""
    if not items:
        return AggregateScores({}, notes={"captions": "no items were scored"})
    scores = score_caption_sets({"": caption_set(items)})[""]
    return AggregateScores(scores.metrics, notes=scores.notes)


def caption_corruption_scores(items: Sequence[ItemResult], _: tuple[str, ...]) -> AggregateScores:
    """Every metric per variant ("clean", "<corruption>@<severity>"), and the CIDEr drop.

    Headline metrics:

    - `clean_CIDEr`, `corrupted_CIDEr` (mean over every corrupted variant), `CIDEr_drop`
      (clean - corrupted) and `CIDEr_relative_drop` (drop as % of clean);
    - `CIDEr_severity<s>` / `CIDEr_drop_severity<s>`: means over corruptions per severity;
    - `CIDEr_<corruption>` / `CIDEr_drop_<corruption>`: means over severities per corruption.

    `breakdown` also holds every metric's mean per severity (`severity=<s>`), per corruption
    (`corruption=<name>`) and over all corrupted variants (`corrupted`).
    """
    by_subset: dict[str, list[ItemResult]] = {}
    for item in items:
        by_subset.setdefault(item.sample.subset, []).append(item)
    if not by_subset:
        return AggregateScores({}, notes={"captions": "no items were scored"})
    scored = score_caption_sets({name: caption_set(group) for name, group in by_subset.items()})
    breakdown: dict[str, Mapping[str, float]] = {k: v.metrics for k, v in scored.items()}
    corrupted = [name for name in scored if name != CLEAN]
    breakdown["corrupted"] = _mean_metrics(scored, corrupted)
    # headline suffix -> the breakdown entry it summarises
    views: dict[str, str] = {}
    for kind, part in (("severity", 2), ("corruption", 0)):
        groups: dict[str, list[str]] = {}
        for name in corrupted:
            groups.setdefault(name.rpartition("@")[part], []).append(name)
        for value, members in groups.items():
            breakdown[f"{kind}={value}"] = _mean_metrics(scored, members)
            views[f"severity{value}" if kind == "severity" else value] = f"{kind}={value}"
    metrics, notes = _headline(breakdown, views)
    notes |= _subset_notes(scored, by_subset)
    return AggregateScores(metrics, breakdown=breakdown, notes=notes)


def caption_set(items: Sequence[ItemResult]) -> CaptionSet:
    """(sample id -> caption, sample id -> references) of the items."""
    predictions = {item.sample.id: item.prediction for item in items}
    references = {item.sample.id: item.sample.references for item in items}
    return predictions, references


def _headline(
    breakdown: Mapping[str, Mapping[str, float]], views: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, str]]:
    """CIDEr clean, corrupted and their drop; the same per severity and per corruption."""
    metrics: dict[str, float] = {}
    notes: dict[str, str] = {}
    clean = breakdown.get(CLEAN, {}).get("CIDEr")
    corrupted = breakdown["corrupted"].get("CIDEr")
    if clean is not None:
        metrics["clean_CIDEr"] = clean
    if corrupted is None:
        notes["corrupted_CIDEr"] = "no corrupted items: nothing to compare clean captions with"
        return metrics, notes
    metrics["corrupted_CIDEr"] = corrupted
    if clean is None:
        notes["CIDEr_drop"] = "no clean items (include_clean is off): drops are not computed"
    else:
        metrics["CIDEr_drop"] = clean - corrupted
        if clean:
            metrics["CIDEr_relative_drop"] = 100.0 * (clean - corrupted) / clean
    for suffix, key in views.items():
        metrics[f"CIDEr_{suffix}"] = breakdown[key]["CIDEr"]
        if clean is not None:
            metrics[f"CIDEr_drop_{suffix}"] = clean - breakdown[key]["CIDEr"]
    return metrics, notes


def _mean_metrics(scored: Mapping[str, CaptionScores], names: Sequence[str]) -> dict[str, float]:
    """Each metric's mean over the named variants (a metric skipped in any is left out)."""
    if not names:
        return {}
    shared = [m for m in CAPTION_METRICS if all(m in scored[n].metrics for n in names)]
    return {m: mean([scored[n].metrics[m] for n in names]) for m in shared}


def _subset_notes(
    scored: Mapping[str, CaptionScores], by_subset: Mapping[str, Sequence[ItemResult]]
) -> dict[str, str]:
    """Skipped metrics (e.g. SPICE) once, and a warning when variants cover different images."""
    notes = {k: v for scores in scored.values() for k, v in scores.notes.items()}
    sizes = {len(group) for group in by_subset.values()}
    if len(sizes) > 1:
        notes["items"] = (
            f"variants have {min(sizes)} to {max(sizes)} items (failed items): their "
            "corpus metrics are over different images, so drops are approximate"
        )
    return notes


CAPTION = Aggregation(
    caption_scores, METRIC_DIRECTIONS.declare(dict.fromkeys(CAPTION_METRICS, True))
)
# The drops measure what corruption costs: a smaller drop is the more robust model.
CORRUPTIONS = Aggregation(
    caption_corruption_scores,
    METRIC_DIRECTIONS.declare(
        {
            "clean_CIDEr": True,
            "corrupted_CIDEr": True,
            "CIDEr_drop": False,
            "CIDEr_relative_drop": False,
        }
    ),
)
