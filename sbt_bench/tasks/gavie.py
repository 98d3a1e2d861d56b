"""GAVIE (LRV-Instruction): an image instruction answered by the model, scored by an LLM judge.

Data, under `--data-dir`: `lrv_instruction/evaluation_set.json` (1000 `{image_id,
question}`; older copies name the instruction `instruction`), the Visual Genome region
descriptions `lrv_instruction/vg_annotation.json` (`{image_id: [{"caption", "bbox": [x, y,
w, h]}]}`, the file LRV-Instruction's `download.txt` fetches) and the VG images
`<image_id>.jpg`. The judge (prompt in `sbt_bench.tasks.gavie_judge`, run by
`sbt_bench.evaluation.judge`) scores accuracy and relevancy 0-10; the task reports their means
over the judgements it could read, and how many it could not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sbt_bench.core import protocols as scoring_protocols
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json
from sbt_bench.core.types import (
    AggregateScores,
    GenerationParams,
    ItemResult,
    Request,
    Response,
    Sample,
)
from sbt_bench.metrics.directions import METRIC_DIRECTIONS
from sbt_bench.metrics.stats import mean, stderr_of_mean
from sbt_bench.tasks.gavie_judge import Region, judge_prompt_for, parse_verdict
from sbt_bench.tasks.generation import GenerationTask
from sbt_bench.tasks.readers import Record

ANNOTATIONS = "vg_annotation.json"
# Judge scores 0-10, higher better; unreadable verdicts say how far to trust the judge.
METRICS = METRIC_DIRECTIONS.declare(
    {"accuracy": True, "relevancy": True, "unparsed_judgements": None}
)
JUDGE_GENERATION = GenerationParams(max_new_tokens=1024)


def read_gavie(path: Path) -> list[Record]:
    """Instructions with their image's Visual Genome regions (`vg_annotation.json` beside)."""
    items = read_json(path)
    if not isinstance(items, list):
        raise SbtError(f"{path}: expected a JSON list of GAVIE instructions")
    regions = _read_regions(path.parent / ANNOTATIONS)
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SbtError(f"{path}: item {index} is not a JSON object")
        instruction = item.get("question", item.get("instruction"))
        if instruction is None or "image_id" not in item:
            raise SbtError(
                f"{path}: item {index} needs `image_id` and `question` (or `instruction`)"
            )
        image_id = str(item["image_id"])
        if image_id not in regions:
            raise SbtError(
                f"{path.parent / ANNOTATIONS}: no regions for image {image_id} (item {index})"
            )
        records.append(
            {
                "instruction": str(instruction),
                "image_id": image_id,
                "image_file": f"{image_id}.jpg",
                "regions": regions[image_id],
            }
        )
    return records


def _read_regions(path: Path) -> dict[str, list[Region]]:
    if not path.is_file():
        raise SbtError(
            f"GAVIE needs the Visual Genome region descriptions at {path} "
            "(LRV-Instruction download.txt: gdown 1h7_gsriFZTmDjQVtfClN-zLxFOCI9HSV)"
        )
    raw = read_json(path)
    try:
        return {
            str(image_id): [
                Region(str(r["caption"]), *(int(v) for v in r["bbox"][:4])) for r in boxes
            ]
            for image_id, boxes in raw.items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise SbtError(
            f"{path}: expected {{image_id: [{{caption, bbox: [x, y, w, h]}}]}} "
            f"({type(err).__name__}: {err})"
        ) from None


def region_lines(records: list[Record], *, published_height_bug: bool = False) -> list[Record]:
    """The judge's box lines, with the true height unless `published_height_bug`.

    The published script printed each box's width where its height belongs.
    """
    bug = published_height_bug
    return [
        r | {"region_lines": [g.line(published_height_bug=bug) for g in r["regions"]]}
        for r in records
    ]


region_lines_published = partial(region_lines, published_height_bug=True)


@dataclass(frozen=True)
class GavieTask(GenerationTask):
    """The model answers the instruction about the image; the judge's verdict is the score.

    Samples and requests are a generation task's (instruction as context, the VG image).
    """

    def metric_names(self) -> tuple[str, ...]:
        """Mean judge scores (0-10) and the count of judgements that could not be read."""
        return METRICS

    def judge_requests(
        self, sample: Sample, responses: Sequence[Response]
    ) -> list[tuple[int, Request]]:
        """The judge reads the one answer, with the image's region boxes and the instruction."""
        prompt = judge_prompt_for(sample, (responses[0].text or "").strip())
        return [(0, Request("generate", prompt, generation=JUDGE_GENERATION))]

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """The judge's scores of the answer; an unreadable verdict scores nothing."""
        response = responses[0]
        if response.judgement is None:
            raise RuntimeError(f"{self.spec.task}: item {sample.id} reached scoring unjudged")
        verdict = parse_verdict(response.judgement)
        scores: dict[str, float] = {"unparsed_judgements": float(not verdict.parsed())}
        if verdict.parsed():
            scores |= {
                "accuracy": verdict.accuracy[0] or 0.0,
                "relevancy": verdict.relevancy[0] or 0.0,
            }
        answer = (response.text or "").strip()
        return ItemResult(
            sample=sample,
            prediction=answer,
            scores=scores,
            generation=response.text,
            protocol=scoring_protocols.GENERATION,
            details={"judge": response.judgement},
        )

    def aggregate(self, items: Sequence[ItemResult]) -> AggregateScores:
        """Means over readable verdicts; unreadable ones are counted, not scored as 0."""
        metrics: dict[str, float] = {}
        stderr: dict[str, float] = {}
        for name in ("accuracy", "relevancy"):
            values = [item.scores[name] for item in items if name in item.scores]
            metrics[name] = mean(values) if values else math.nan
            stderr[name] = stderr_of_mean(values) if values else math.nan
        metrics["unparsed_judgements"] = float(sum(i.scores["unparsed_judgements"] for i in items))
        notes = {"unparsed_judgements": "items whose judge output held no readable 0-10 scores"}
        return AggregateScores(metrics, stderr, notes=notes)
