"""Caption tasks: Karpathy readers, the three task specs, aggregators, and an end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbt_bench.backends import BackendOptions, ModelSpec
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import Sample
from sbt_bench.evaluation.runner import RunConfig, evaluate_model
from sbt_bench.tasks import TASKS, ItemResult, build_task
from sbt_bench.tasks.aggregators import AGGREGATORS
from sbt_bench.tasks.caption_readers import read_coco_karpathy, read_flickr30k_karpathy
from sbt_bench.tasks.source import load_records
from tests.fake_backends import CORRUPTED_CAPTION, CaptionEchoBackend, register_fake_backends
from tests.needs import need_program
from tests.vision_data import link_question_files, write_images

PROMPT = "Please provide a description of the picture."


@pytest.fixture
def needs_java() -> None:
    """Caption metrics run Java (the PTB tokenizer, METEOR)."""
    need_program("java")


class TestReaders:
    def test_coco_karpathy_test_has_5000_images_and_25010_captions(self, data_dir: Path) -> None:
        """coco_test.json gives the counts in its SOURCE.md, ids taken from the file names."""
        records = read_coco_karpathy(data_dir / "coco_karpathy/coco_test.json")
        assert len(records) == 5000
        assert sum(len(r["captions"]) for r in records) == 25010
        assert records[0]["image"] == "val2014/COCO_val2014_000000391895.jpg"
        assert records[0]["image_id"] == 391895
        assert records[0]["captions"][0] == (
            "A man with a red helmet on a small moped on a dirt road."
        )
        listed = (data_dir / "coco_karpathy/karpathy_test_images.txt").read_text().split()
        assert {r["image_id"] for r in records} == {int(i) for i in listed[1::2]}

    def test_flickr30k_karpathy_test_has_1000_images_and_5000_captions(
        self, data_dir: Path
    ) -> None:
        """flickr30k_test.json is the 1k Karpathy test split, five captions per image."""
        records = read_flickr30k_karpathy(data_dir / "flickr30k_karpathy/flickr30k_test.json")
        assert len(records) == 1000
        assert all(len(r["captions"]) == 5 for r in records)
        assert records[0]["image"] == "1007129816.jpg"
        assert records[0]["image_id"] == "1007129816"

    def test_bad_items_name_the_file_and_item(self, tmp_path: Path) -> None:
        """A record without captions or with a non-COCO file name is a one-line error."""
        path = tmp_path / "coco_test.json"
        path.write_text(json.dumps([{"image": "val2014/x_1.jpg", "caption": []}]))
        with pytest.raises(SbtError, match=r"coco_test.json: item 0 has no non-empty caption"):
            read_coco_karpathy(path)
        path.write_text(json.dumps([{"image": "val2014/cat.jpg", "caption": ["a cat"]}]))
        with pytest.raises(SbtError, match=r"item 0 image 'val2014/cat.jpg' does not end"):
            read_coco_karpathy(path)


class TestSpecs:
    def test_coco_caption_sample_has_prompt_image_and_references(self, data_dir: Path) -> None:
        """The paper's prompt, the image under coco/, all references, and a 64-token budget."""
        task = build_task(TASKS.get("coco_caption"))
        record = load_records("coco_caption", task.spec.dataset, data_dir)[0]
        (sample,) = task.build_samples(0, record, data_dir)
        assert sample.context == PROMPT
        assert sample.images == (str(data_dir / "coco/val2014/COCO_val2014_000000391895.jpg"),)
        assert len(sample.references) == 5
        request = task.requests(sample)[0]
        assert request.generation.max_new_tokens == 64
        assert task.metric_names()[-2:] == ("CIDEr", "SPICE")

    def test_flickr_inherits_everything_but_data_and_folder(self, data_dir: Path) -> None:
        """flickr30k_caption differs from coco_caption only in its file, reader and folder."""
        task = build_task(TASKS.get("flickr30k_caption"))
        record = load_records("flickr30k_caption", task.spec.dataset, data_dir)[0]
        (sample,) = task.build_samples(0, record, data_dir)
        assert sample.images == (str(data_dir / "flickr30k/images/1007129816.jpg"),)
        assert sample.context == PROMPT
        assert task.spec.aggregate == "caption"

    def test_coco_c_expands_each_image_into_58_variants(self, data_dir: Path) -> None:
        """Clean first, then 19 corruptions x severities 1, 3, 5, each its own id and subset."""
        task = build_task(TASKS.get("coco_c"))
        record = load_records("coco_c", task.spec.dataset, data_dir)[7]
        samples = task.build_samples(7, record, data_dir)
        assert len(samples) == 1 + 19 * 3
        assert (samples[0].id, samples[0].subset) == ("7", "clean")
        assert (samples[1].id, samples[1].subset) == ("7/gaussian_noise@1", "gaussian_noise@1")
        assert samples[-1].subset == "saturate@5"
        assert samples[1].images[0].endswith(".jpg#gaussian_noise@1")
        assert len({s.id for s in samples}) == len(samples)
        assert {s.references for s in samples} == {samples[0].references}


def item(sample_id: str, subset: str, caption: str, references: tuple[str, ...]) -> ItemResult:
    sample = Sample(id=sample_id, context=PROMPT, references=references, subset=subset)
    return ItemResult(sample=sample, prediction=caption, scores={}, generation=caption)


REFS = {
    "0": ("a man riding a motorcycle on a dirt road", "a person on a motor bike"),
    "1": ("a woman cutting a large white cake", "a lady slicing a cake"),
    "2": ("two dogs playing in the snow", "dogs running through snow"),
}


@pytest.mark.usefixtures("needs_java")
class TestAggregators:
    def test_breakdown_per_variant_and_drop_from_clean(self) -> None:
        """Clean captions equal a reference; corrupted ones degrade with severity: drops add up."""
        items = [item(k, "clean", refs[0], refs) for k, refs in REFS.items()]
        worse = {1: lambda r: r[0].rsplit(" ", 2)[0], 3: lambda r: "a picture of something"}
        for name in ("fog", "contrast"):
            for severity, degrade in worse.items():
                subset = f"{name}@{severity}"
                items += [item(f"{k}/{subset}", subset, degrade(r), r) for k, r in REFS.items()]
        scores = AGGREGATORS.get("caption_corruptions").aggregate(items, ())
        breakdown, metrics = scores.breakdown, scores.metrics
        assert list(breakdown)[:5] == ["clean", "fog@1", "fog@3", "contrast@1", "contrast@3"]
        assert breakdown["fog@1"] == breakdown["contrast@1"]
        cider = {k: v["CIDEr"] for k, v in breakdown.items() if "@" in k}
        assert metrics["clean_CIDEr"] == breakdown["clean"]["CIDEr"]
        assert metrics["corrupted_CIDEr"] == pytest.approx(sum(cider.values()) / 4)
        assert metrics["CIDEr_drop"] == pytest.approx(
            metrics["clean_CIDEr"] - metrics["corrupted_CIDEr"]
        )
        assert metrics["CIDEr_severity3"] == pytest.approx(cider["fog@3"])
        assert metrics["CIDEr_drop_severity1"] > 0
        assert metrics["CIDEr_drop_severity3"] > metrics["CIDEr_drop_severity1"]
        assert metrics["CIDEr_fog"] == pytest.approx((cider["fog@1"] + cider["fog@3"]) / 2)
        assert breakdown["severity=1"]["BLEU_1"] == breakdown["fog@1"]["BLEU_1"]
        assert breakdown["corruption=contrast"]["METEOR"] == pytest.approx(
            (breakdown["contrast@1"]["METEOR"] + breakdown["contrast@3"]["METEOR"]) / 2
        )
        assert "SPICE" not in metrics
        assert "items" not in scores.notes


@pytest.mark.usefixtures("needs_java")
class TestEndToEnd:
    def test_caption_tasks_on_a_fake_backend(
        self, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The three caption tasks run and write results; coco_c shows a drop from clean."""
        pytest.importorskip("imagecorruptions")
        monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
        local = link_question_files(data_dir, tmp_path / "data")
        coco = read_coco_karpathy(data_dir / "coco_karpathy/coco_test.json")[:2]
        flickr = read_flickr30k_karpathy(data_dir / "flickr30k_karpathy/flickr30k_test.json")[:2]
        # 64x48 is enough for every corruption
        write_images(local, data_dir, ["coco_caption", "flickr30k_caption"], 2, size=(64, 48))
        for record in (*coco, *flickr):
            CaptionEchoBackend.captions[Path(record["image"]).name] = record["captions"][0]
        register_fake_backends()
        spec = ModelSpec(name="echo", backend="caption_echo", path="none")
        cfg = RunConfig(
            output_dir=tmp_path / "out", options=BackendOptions(), limit=2, data_dir=local
        )
        tasks = ["coco_caption", "flickr30k_caption", "coco_c"]
        results = evaluate_model(spec, tasks, [], cfg).document["tasks"]

        assert results["coco_caption"]["n_samples"] == 2
        assert results["coco_caption"]["metrics"]["BLEU_1"] == pytest.approx(100, rel=1e-6)
        assert results["flickr30k_caption"]["metrics"]["ROUGE_L"] == pytest.approx(100)
        coco_c = results["coco_c"]
        assert coco_c["n_samples"] == 2 * 58
        assert len([k for k in coco_c["breakdown"] if "@" in k]) == 57
        assert coco_c["metrics"]["CIDEr_drop"] > 0
        assert coco_c["metrics"]["clean_CIDEr"] == results["coco_caption"]["metrics"]["CIDEr"]
        corrupted = [(ref, size) for ref, size in CaptionEchoBackend.loaded if "#" in ref]
        assert len(corrupted) == 2 * 57
        assert {size for _, size in corrupted} == {(64, 48)}
        assert len(list((tmp_path / "cache/corrupted").rglob("*.png"))) == 2 * 57
        lines = (tmp_path / "out/echo/samples_coco_c.jsonl").read_text().splitlines()
        assert len(lines) == 2 * 58
        assert CORRUPTED_CAPTION in lines[1]
