"""GAVIE: judge prompt construction, verdict parsing, and the judged run on the fake server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sbt_bench.tasks.gavie import read_gavie, region_lines, region_lines_published
from sbt_bench.tasks.gavie_judge import Region, gavie_prompt, parse_verdict
from tests.backends.test_openai_api import model_file
from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt
from tests.fake_openai import FakeOpenAI

TRAY = Region("food is in a tray", 20, 55, 470, 300)
SPOON = Region("the spoon is white ", 0, 7, 69, 40)  # VG captions keep trailing spaces

EXPECTED_PROMPT = """\
Given an image with following information: bounding box, positions that are the object \
left-top corner coordinates(X, Y), object sizes(Width, Height). Highly overlapping bounding \
boxes may refer to the same object.

bounding box:
food is in a tray X:20 Y:55 Width:470 Height:300
the spoon is white  X:0 Y:7 Width:69 Height:40


Here is the instruction for the image:
Is there a red wine glass?

Answer1: No, there is no wine glass.

Suppose you are a smart teacher, after looking at the image information above, please \
score the above answers(0-10) according to the following criteria:
1: whether the response directly follows the instruction.
2: whether the response is accurate concerning the image content.

Output format:

Relevancy:
score of the answer1:
reason:

Accuracy:
score of the answer1:
reason:

"""


class TestPrompt:
    def test_prompt_matches_the_published_construction(self) -> None:
        """Header, one line per box (caption verbatim), instruction, answer, criteria, format."""
        lines = [TRAY.line(), SPOON.line()]
        got = gavie_prompt(lines, "Is there a red wine glass?", ["No, there is no wine glass."])
        assert got == EXPECTED_PROMPT

    def test_height_is_fixed_by_default_and_the_bug_only_behind_the_flag(self) -> None:
        """The published script printed the width as the height; only the flag does that."""
        assert TRAY.line() == "food is in a tray X:20 Y:55 Width:470 Height:300"
        published = TRAY.line(published_height_bug=True)
        assert published == "food is in a tray X:20 Y:55 Width:470 Height:470"
        gavie_txt = Path(__file__).resolve().parents[3] / "shared/data/lrv_instruction/GAVIE.txt"
        if gavie_txt.is_file():  # the published example has the bug baked in
            assert published in gavie_txt.read_text(encoding="utf-8")
        records = [{"regions": [TRAY]}]
        assert region_lines(records)[0]["region_lines"] == [TRAY.line()]
        assert region_lines_published(records)[0]["region_lines"] == [published]

    def test_several_answers_are_numbered(self) -> None:
        """Answers 1..N are listed and each gets a score slot in both sections."""
        got = gavie_prompt([TRAY.line()], "Describe.", ["a", "b"])
        assert "Answer1: a\nAnswer2: b\n\n" in got
        assert got.count("score of the answer2:") == 2


R, A, S = "Relevancy:", "Accuracy:", "score of the answer1"


class TestParse:
    @pytest.mark.parametrize(
        ("text", "accuracy", "relevancy"),
        [
            (f"{R}\n{S}: 8\nreason: x\n\n{A}\n{S}: 6\nreason: y", 6.0, 8.0),
            (
                "Accuracy:\nscore of answer1: 3\nreason: wrong\nRelevancy:\nscore of answer1: 9",
                3.0,
                9.0,
            ),
            (f"**{R}**\n- {S}: **7**\n\n**{A}**\n- {S}: 5.5", 5.5, 7.0),
            (f"relevancy:\n{S}\uff1a10\naccuracy:\n{S}\uff1a0", 0.0, 10.0),  # full-width colons
            (f"{R}\n{S}: 8\nreason: Accuracy is not judged here.\n{A}\n{S}: 4", 4.0, 8.0),
        ],
    )
    def test_well_formed_verdicts(self, text: str, accuracy: float, relevancy: float) -> None:
        """Either order, markdown, 'the' optional, full-width colons, decimals all parse."""
        verdict = parse_verdict(text)
        assert verdict.accuracy == (accuracy,)
        assert verdict.relevancy == (relevancy,)
        assert verdict.parsed()

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "I am unable to score these answers.",
            "Relevancy:\nscore of the answer1: 8\nreason: fine",  # no accuracy section
            "Relevancy:\nscore of the answer1: 11\nAccuracy:\nscore of the answer1: 6",  # > 10
            "Relevancy:\nscore of the answer1: N/A\nAccuracy:\nscore of the answer1: 6",
            "Relevancy:\nscore of the answer2: 8\nAccuracy:\nscore of the answer2: 6",  # wrong slot
            "score of the answer1: 8\nscore of the answer1: 6",  # no headings at all
        ],
    )
    def test_malformed_verdicts_are_unparsed(self, text: str) -> None:
        """A missing section, an out-of-range or non-numeric score leaves the item unparsed."""
        assert not parse_verdict(text).parsed()

    def test_several_answers(self) -> None:
        """Scores are read per answer slot."""
        text = (
            "Relevancy:\nscore of the answer1: 8\nscore of the answer2: 2\n"
            "Accuracy:\nscore of the answer1: 7\nscore of the answer2: 1"
        )
        verdict = parse_verdict(text, n_answers=2)
        assert verdict.accuracy == (7.0, 1.0)
        assert verdict.relevancy == (8.0, 2.0)


@pytest.fixture
def gavie_dir(tmp_path: Path, data_dir: Path) -> Path:
    """A data dir with 3 GAVIE items on 2 images, their regions and the image files."""
    root = tmp_path / "data" / "lrv_instruction"
    (root / "images").mkdir(parents=True)
    items = [
        {"image_id": "11", "question": "Is there a cat on the sofa?"},
        {"image_id": "11", "question": "Describe the MALFORMED scene."},
        {"image_id": "12", "instruction": "What is the astronaut holding?"},  # older key
    ]
    (root / "evaluation_set.json").write_text(json.dumps(items), encoding="utf-8")
    regions = {
        "11": [{"caption": "a cat", "bbox": [1, 2, 30, 40]}],
        "12": [{"caption": "an astronaut", "bbox": [5, 6, 70, 80]}],
    }
    (root / "vg_annotation.json").write_text(json.dumps(regions), encoding="utf-8")
    shutil.copy(data_dir / "sample_images" / "chelsea.jpg", root / "images" / "11.jpg")
    shutil.copy(data_dir / "sample_images" / "astronaut.jpg", root / "images" / "12.jpg")
    return tmp_path / "data"


def run_gavie(model: str, judge: str, data: Path, out: Path, task: str = "gavie") -> int:
    args = ["run", "--tasks", task, "--models", model, "--judge", judge]
    return run_cli(*args, "--data-dir", str(data), "--output-dir", str(out))


class TestJudgedRun:
    def test_answers_are_judged_parsed_counted_and_cached(
        self, server: FakeOpenAI, gavie_dir: Path, tmp_path: Path
    ) -> None:
        """Candidate sees the image; the judge scores it; unreadable verdicts are counted."""
        (tmp_path / "m").mkdir()
        (tmp_path / "j").mkdir()
        model = model_file(tmp_path / "m", server, kind="openai")
        judge = model_file(tmp_path / "j", server, kind="openai", price_prompt_per_1m=1.0)
        out = tmp_path / "out"
        assert run_gavie(model, judge, gavie_dir, out) == 0
        entry = results_of(out)["tasks"]["gavie"]  # type: ignore[index]
        assert entry["metrics"]["accuracy"] == 6.0
        assert entry["metrics"]["relevancy"] == 7.0
        assert entry["metrics"]["unparsed_judgements"] == 1.0
        assert entry["n_samples"] == 3
        assert entry["judge"]["n_judged"] == 3
        assert entry["judge"]["cost_usd"] is not None
        assert entry["images"]["sent"] == 2

        candidates = [b for b in server.bodies if "smart teacher" not in str(b["messages"])]
        judges = [b for b in server.bodies if "smart teacher" in str(b["messages"])]
        assert len(candidates) == len(judges) == 3
        assert all(isinstance(b["messages"][0]["content"], list) for b in candidates)
        prompts = [str(b["messages"][0]["content"]) for b in judges]
        assert any("a cat X:1 Y:2 Width:30 Height:40" in p for p in prompts)

        (samples,) = out.glob("*/samples_gavie.jsonl")
        rows = [json.loads(line) for line in samples.read_text().splitlines()]
        assert {r["judge"] for r in rows} >= {"I am unable to score these answers."}

        sent = len(server.bodies)
        assert run_gavie(model, judge, gavie_dir, out) == 0
        assert len(server.bodies) == sent  # neither the model nor the judge is asked again

    def test_published_variant_prints_width_as_height(
        self, server: FakeOpenAI, gavie_dir: Path, tmp_path: Path
    ) -> None:
        """gavie_published sends the judge the published (buggy) box lines."""
        model = model_file(tmp_path, server, kind="openai")
        assert run_gavie(model, model, gavie_dir, tmp_path / "out", "gavie_published") == 0
        prompts = [str(b["messages"]) for b in server.bodies if "smart teacher" in str(b)]
        assert any("a cat X:1 Y:2 Width:30 Height:30" in p for p in prompts)

    def test_missing_region_file_is_one_line_naming_it(self, gavie_dir: Path) -> None:
        """Without vg_annotation.json the run stops before any model work, naming the file."""
        (gavie_dir / "lrv_instruction" / "vg_annotation.json").unlink()
        args = ["--tasks", "gavie", "--models", "openai:x", "--data-dir", str(gavie_dir)]
        proc = sbt("run", *args, env={"OPENAI_API_KEY": "k"})
        assert_one_line_error(proc, "vg_annotation.json")
        assert "vg_annotation.json" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1

    def test_old_instruction_key_is_read(self, gavie_dir: Path) -> None:
        """Older evaluation sets name the instruction `instruction`, not `question`."""
        records = read_gavie(gavie_dir / "lrv_instruction" / "evaluation_set.json")
        assert records[2]["instruction"] == "What is the astronaut holding?"
        assert records[0]["image_file"] == "11.jpg"
