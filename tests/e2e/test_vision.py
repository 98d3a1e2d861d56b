"""End to end on a tiny random LLaVA: every vision task, results, samples and leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbt_bench.tasks import GROUPS
from tests.cli_runner import results_of, run_cli
from tests.vision_data import link_question_files, write_images

VQA_TASKS = ["mme", *GROUPS.get("pope").tasks, *GROUPS.get("unicorn").tasks]
LIMIT = 3


@pytest.fixture(scope="module")
def vision_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real question files, real photos under the first items' image names."""
    target = link_question_files(data_dir, tmp_path_factory.mktemp("vision-data"))
    write_images(target, data_dir, VQA_TASKS, LIMIT)
    return target


def run_args(model: Path, data: Path, out: Path, tasks: str, *extra: str) -> list[str]:
    return [
        "run", "--tasks", tasks, "--models", f"llava:{model}", "--limit", str(LIMIT),
        "--data-dir", str(data), "--output-dir", str(out), *extra,
    ]  # fmt: skip


def test_every_vqa_task_runs_and_writes_results(
    tiny_llava: Path, vision_data: Path, tmp_path: Path
) -> None:
    """MME, POPE and Unicorn run on the tiny LLaVA; results carry metrics and samples images."""
    out = tmp_path / "out"
    assert run_cli(*run_args(tiny_llava, vision_data, out, "mme,pope,unicorn")) == 0
    (results_file,) = out.glob("*/results.json")
    results = json.loads(results_file.read_text())
    assert set(VQA_TASKS) <= set(results["tasks"])
    mme = results["tasks"]["mme"]
    assert set(mme["metrics"]) == {"perception", "cognition", "total"}
    assert set(mme["breakdown"]) == {"existence"}  # the first 3 questions are all existence
    assert mme["n_samples"] == LIMIT
    for split in GROUPS.get("pope").tasks:
        assert 0.0 <= results["tasks"][split]["metrics"]["f1"] <= 1.0
    assert "f1" in results["groups"]["pope"]["metrics"]
    oodcv = results["tasks"]["unicorn_oodcv"]
    assert set(oodcv["breakdown"]) >= {"weather"}
    samples = [json.loads(x) for x in (results_file.parent / "samples_pope_random.jsonl").open()]
    assert len(samples) == LIMIT
    assert all(Path(s["images"][0]).is_file() for s in samples)

    board = tmp_path / "board.md"
    spec = ["--spec", "sbt_vision", "--output", str(board)]
    assert run_cli("leaderboard", str(out), *spec) == 0
    header = board.read_text().splitlines()[0]
    for column in ("MME perception", "MME cognition", "POPE random F1", "POPE mean F1"):
        assert column in header


def test_rerun_is_served_from_the_cache(
    tiny_llava: Path, vision_data: Path, tmp_path: Path
) -> None:
    """A second identical run computes nothing and reports the same numbers."""
    out = tmp_path / "out"
    args = run_args(tiny_llava, vision_data, out, "pope_random")
    assert run_cli(*args) == 0
    first = results_of(out)
    assert run_cli(*args) == 0
    second = results_of(out)
    assert second["timing"]["cached"] == second["timing"]["requests"] == LIMIT
    assert second["tasks"]["pope_random"]["metrics"] == first["tasks"]["pope_random"]["metrics"]


def test_text_tasks_score_through_the_language_model(
    tiny_llava: Path, vision_data: Path, tmp_path: Path
) -> None:
    """TruthfulQA mc on a LLaVA checkpoint scores log-likelihoods with its language model."""
    out = tmp_path / "out"
    assert run_cli(*run_args(tiny_llava, vision_data, out, "truthfulqa_mc1")) == 0
    results = results_of(out)
    assert results["tasks"]["truthfulqa_mc1"]["n_samples"] == LIMIT


def test_missing_image_is_one_line_naming_the_file_or_counted_when_skipped(
    tiny_llava: Path,
    vision_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Item 7 shows the split's second image, never written: exit 2 naming it, or counted."""
    out = tmp_path / "out"
    args = run_args(tiny_llava, vision_data, out, "pope_adversarial")
    args[args.index("--limit") + 1] = "7"  # items 1-6 share the first image
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert ".jpg" in err[0]
    assert "--skip-missing-images" in err[0]
    assert run_cli(*args, "--skip-missing-images") == 0
    task = results_of(out)["tasks"]["pope_adversarial"]
    assert task["n_missing_images"] == 1
    assert task["n_samples"] == 6
    assert task["missing_images"][0].endswith("COCO_val2014_000000210789.jpg")


def test_sbt_paper_preset_samples_reproducibly(
    tiny_llava: Path, vision_data: Path, tmp_path: Path
) -> None:
    """The paper's temperature-0.2 sampling is seeded per request: two fresh runs agree."""
    spec = tmp_path / "paper.yaml"
    spec.write_text(f"model: llava:{tiny_llava}\nprompt_format: sbt-paper\n")
    generations = []
    for run in ("a", "b"):
        out = tmp_path / run
        args = run_args(tiny_llava, vision_data, out, "pope_random")
        args[args.index("--models") + 1] = str(spec)
        assert run_cli(*args) == 0
        lines = (out / "paper" / "samples_pope_random.jsonl").read_text().splitlines()
        generations.append([json.loads(x)["generation"] for x in lines])
    assert generations[0] == generations[1]
    assert len(generations[0]) == LIMIT


CAPTION_TASKS = ["coco_caption", "flickr30k_caption", "coco_c"]


def test_caption_tasks_run_with_corruptions(
    tiny_llava: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captioning on one image each: COCO, Flickr30k, and COCO-C's 57 variants plus clean."""
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    data = link_question_files(data_dir, tmp_path / "data")
    write_images(data, data_dir, CAPTION_TASKS, limit=1)
    out = tmp_path / "out"
    args = run_args(tiny_llava, data, out, ",".join(CAPTION_TASKS))
    args[args.index("--limit") + 1] = "1"
    assert run_cli(*args) == 0
    results = results_of(out)["tasks"]
    for task in ("coco_caption", "flickr30k_caption"):
        assert {"BLEU_4", "METEOR", "ROUGE_L", "CIDEr"} <= set(results[task]["metrics"])
    coco_c = results["coco_c"]
    assert coco_c["n_samples"] == 1 + 19 * 3
    assert {"clean", "fog@1", "glass_blur@5"} <= set(coco_c["breakdown"])
    assert "CIDEr_drop" in coco_c["metrics"]
    assert len(list((tmp_path / "cache" / "corrupted").rglob("*.png"))) == 19 * 3


def test_corruptions_flag_picks_variants(
    tiny_llava: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--corruptions fog,snow:2 runs exactly clean + fog@2 + snow@2 per image."""
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    data = link_question_files(data_dir, tmp_path / "data")
    write_images(data, data_dir, ["coco_caption"], limit=1)
    out = tmp_path / "out"
    args = run_args(tiny_llava, data, out, "coco_c", "--corruptions", "fog,snow:2")
    args[args.index("--limit") + 1] = "1"
    assert run_cli(*args) == 0
    coco_c = results_of(out)["tasks"]["coco_c"]
    variants = {k for k in coco_c["breakdown"] if "@" in k or k == "clean"}
    assert variants == {"clean", "fog@2", "snow@2"}
    assert coco_c["n_samples"] == 3
