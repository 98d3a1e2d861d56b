"""COCO caption metrics: hand-computed cases and equality with pycocoevalcap's own COCOEvalCap."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.needs import need_program

pytest.importorskip("pycocoevalcap")
pytest.importorskip("pycocotools")
from sbt_bench.core.errors import SbtError
from sbt_bench.metrics import captioning
from sbt_bench.metrics.captioning import (
    score_caption_sets,
    score_captions,
    spice_unavailable,
    tokenize,
)


@pytest.fixture(autouse=True)
def _java() -> None:
    """The PTB tokenizer and METEOR run Java (.ci/run installs a JRE)."""
    need_program("java")


# Six images with five references each; the predictions range from exact to unrelated,
# with capitals, punctuation and an empty caption for the tokenizer to handle.
REFERENCES = {
    "1": [
        "A man with a red helmet on a small moped on a dirt road. ",
        "Man riding a motor bike on a dirt road on the countryside.",
        "A man riding on the back of a motorcycle.",
        "A dirt path with a young person on a motor bike rests to the foreground.",
        "A man in a red shirt and a red hat is on a motorcycle on a hill side.",
    ],
    "2": [
        "A woman wearing a net on her head cutting a cake. ",
        "A woman cutting a large white sheet cake.",
        "A woman wearing a hair net cutting a large sheet cake.",
        "there is a woman that is cutting a white cake",
        "A woman marking a cake with the back of a chef's knife. ",
    ],
    "3": [
        "A child holding a flowered umbrella and petting a yak.",
        "A young man holding an umbrella next to a herd of cattle.",
        "a young boy barefoot holding an umbrella touching the horn of a cow",
        "A young boy with an umbrella who is touching the horn of a cow.",
        "A boy holding an umbrella while standing next to livestock.",
    ],
    "4": [
        "A narrow kitchen filled with appliances and cooking utensils.",
        "A galley kitchen with cabinets and appliances on both sides",
        "A hallway leading into a white kitchen with appliances.",
        "Doorway view of a kitchen with a sink, stove, refrigerator and pantry.",
        "The pantry door of the small kitchen is closed.",
    ],
    "5": [
        "A little girl holding a kite on a beach.",
        "A girl is flying a kite at the beach.",
        "A child with a kite standing on sand.",
        "Young girl holding a pink kite by the ocean.",
        "A kid on the shore with a kite.",
    ],
    "6": [
        "Two dogs playing in the snow.",
        "A pair of dogs run through a snowy field.",
        "Dogs chase each other across white snow.",
        "Two brown dogs playing outside in winter.",
        "A couple of dogs are running in the snow.",
    ],
}
PREDICTIONS = {
    "1": "A man riding on the back of a motorcycle.",
    "2": "A woman is cutting a white cake with a knife.",
    "3": "A boy with an umbrella stands next to a cow!",
    "4": "a kitchen with a stove, a sink and a refrigerator",
    "5": "",
    "6": "A plate of food on a wooden table.",
}


def official_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> Any:
    """COCOEvalCap on in-memory COCO objects, SPICE stubbed out (its jars cannot be fetched)."""
    from pycocoevalcap import eval as coco_eval
    from pycocotools.coco import COCO

    ids = {key: i for i, key in enumerate(references, start=1)}
    gt = COCO()
    gt.dataset = {
        "images": [{"id": ids[k]} for k in references],
        "annotations": [
            {"image_id": ids[k], "id": n, "caption": c}
            for n, (k, c) in enumerate(((k, c) for k, cs in references.items() for c in cs), 1)
        ],
    }
    gt.createIndex()
    res = gt.loadRes([{"image_id": ids[k], "caption": p} for k, p in predictions.items()])

    class NoSpice:
        def compute_score(self, gts: Any, _res: Any) -> tuple[float, list[float]]:
            return math.nan, [math.nan] * len(gts)

        def method(self) -> str:
            return "SPICE"

    original = coco_eval.Spice
    coco_eval.Spice = NoSpice
    try:
        evaluator = coco_eval.COCOEvalCap(gt, res)
        evaluator.evaluate()
    finally:
        coco_eval.Spice = original
    return evaluator.eval


class TestOfficialParity:
    def test_every_shared_metric_equals_coco_eval_cap_times_100(self) -> None:
        """BLEU-1..4, METEOR, ROUGE-L and CIDEr equal COCOEvalCap's (x100) on a synthetic set."""
        ours = score_captions(PREDICTIONS, REFERENCES)
        theirs = official_scores(PREDICTIONS, REFERENCES)
        names = {
            "BLEU_1": "Bleu_1",
            "BLEU_2": "Bleu_2",
            "BLEU_3": "Bleu_3",
            "BLEU_4": "Bleu_4",
            "METEOR": "METEOR",
            "ROUGE_L": "ROUGE_L",
            "CIDEr": "CIDEr",
        }
        for ours_name, their_name in names.items():
            assert ours.metrics[ours_name] == pytest.approx(100 * theirs[their_name], rel=1e-9)
        assert 0 < ours.metrics["CIDEr"] < 1000
        if spice_unavailable() is not None:
            assert "SPICE" not in ours.metrics
            assert ours.notes["SPICE"].startswith("skipped: SPICE needs Stanford CoreNLP")


class TestHandComputed:
    def test_exact_and_partial_matches_and_sets_scored_apart(self) -> None:
        """Exact + 'a cat'/'a dog': BLEU-1 = 6/7, BLEU-2 = sqrt(6/7 * 4/5), ROUGE-L = 75.

        Scored beside it in the same call, 'a cat'/'a dog' alone gets BLEU-1 = ROUGE-L = 50:
        sets share the tokenizer and METEOR process, not their statistics.
        """
        exact = ("A man rides a horse.", ["a man rides a horse"])
        half = ("a cat", ["A dog."])
        scores = score_caption_sets(
            {
                "both": (
                    {"exact": exact[0], "half": half[0]},
                    {"exact": exact[1], "half": half[1]},
                ),
                "half": ({"half": half[0]}, {"half": half[1]}),
            },
            spice=False,
        )
        both = scores["both"].metrics
        assert both["BLEU_1"] == pytest.approx(100 * 6 / 7, rel=1e-6)
        assert both["BLEU_2"] == pytest.approx(100 * math.sqrt(6 / 7 * 4 / 5), rel=1e-6)
        assert both["ROUGE_L"] == pytest.approx(75.0)
        assert scores["half"].metrics["BLEU_1"] == pytest.approx(50.0, rel=1e-6)
        assert scores["half"].metrics["ROUGE_L"] == pytest.approx(50.0)
        assert scores["both"].notes == {"SPICE": "skipped: disabled (spice=False)"}
        assert "SPICE" not in both


class TestTokenizer:
    def test_lowercases_drops_punctuation_and_keeps_alignment(self) -> None:
        """Line breaks inside a caption (CR, U+2028) cannot shift later captions to other images."""
        gts, res = tokenize(
            {"a": "Two\rdogs!", "b": "A\u2028cat.", "c": ""},
            {"a": ["Two dogs."], "b": ["A cat,", "The cat"], "c": ["Nothing"]},
        )
        assert res == {"a": ["two dogs"], "b": ["a cat"], "c": [""]}
        assert gts == {"a": ["two dogs"], "b": ["a cat", "the cat"], "c": ["nothing"]}


class TestErrors:
    def test_missing_java_names_the_package_to_install(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without `java` on PATH the error says to install a JRE."""
        monkeypatch.setattr(captioning.shutil, "which", lambda _name: None)
        with pytest.raises(SbtError, match="default-jre-headless"):
            score_captions({"1": "a"}, {"1": ["a"]})

    def test_unmatched_ids_and_empty_references(self) -> None:
        """A prediction without references (or an image without references) is a one-line error."""
        with pytest.raises(SbtError, match="'2' is only in the predictions"):
            score_captions({"1": "a", "2": "b"}, {"1": ["a"]})
        with pytest.raises(SbtError, match="'1' has no reference captions"):
            score_captions({"1": "a"}, {"1": []})
        with pytest.raises(SbtError, match="reference set is empty"):
            score_captions({}, {})
