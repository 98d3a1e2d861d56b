"""A catalogue of bad inputs: each one exits 2 with one stderr line naming the file or value.

Every case runs the CLI in this process (a few milliseconds each, except the two that reach
a model loader), builds its bad file under a temporary folder and names the text the error
line must hold.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.cli_runner import run_cli
from tests.e2e.bad_inputs import Case, Place


def run(p: Place, task: str, *extra: str, model: str | None = None) -> list[str]:
    """`run --tasks task` on the tiny model with the real data, unless `extra` overrides."""
    args = ["run", "--tasks", task, "--models", model or f"hf:{p.model}", "--limit", "2"]
    args += ["--output-dir", str(p.tmp / "out")]
    return args + (list(extra) if "--data-dir" in extra else [*extra, "--data-dir", str(p.data)])


def score(p: Place, task: str, answers: str | bytes, *extra: str) -> list[str]:
    """`score task --predictions answers` against the real data."""
    path = p.write("answers.jsonl", answers)
    out = str(p.tmp / "out")
    return [
        "score",
        task,
        "--predictions",
        str(path),
        "--data-dir",
        str(p.data),
        *extra,
        "--output-dir",
        out,
    ]


def justice(p: Place, content: str | bytes) -> list[str]:
    """ETHICS justice on a data folder whose test file is `content`."""
    data = p.data_with("ethics/justice/justice_test.csv", content)
    return run(p, "ethics_justice", "--data-dir", data)


def pope(p: Place, content: str) -> list[str]:
    """POPE random, on the tiny model loaded as a VLM, with `content` as the label file."""
    data = p.data_with("pope/coco_pope_random.json", content)
    return run(p, "pope_random", "--data-dir", data, model=f"llava:{p.model}")


def truncated_weights(p: Place) -> list[str]:
    """The tiny model with its safetensors file cut in half."""
    folder = p.tmp / "cut-model"
    shutil.copytree(p.model, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return run(p, "ethics_justice", model=f"hf:{folder}")


FIVE_BYTES = b"GGUF\x03"
POPE_ROW = '{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}\n'

CASES = [
    # Issue 12: previously a traceback, or a number where there should be none.
    Case(
        "ethics csv not utf-8",
        lambda p: justice(p, b"label,scenario\n1,caf\xe9\n"),
        ("justice_test.csv", "UTF-8"),
    ),
    Case(
        "ethics csv header only",
        lambda p: justice(p, "label,scenario\n"),
        ("justice_test.csv", "no items"),
    ),
    Case("truncated safetensors", truncated_weights, ("cut-model", "truncated or corrupt")),
    Case(
        "5-byte gguf",
        lambda p: run(p, "ethics_justice", model=f"hf:{p.write('five.gguf', FIVE_BYTES)}"),
        ("five.gguf", "truncated or corrupt"),
    ),
    Case("empty --tasks", lambda p: run(p, ""), ("--tasks ''",)),
    Case("--tasks of commas", lambda p: run(p, ",,"), ("--tasks ',,'",)),
    Case("empty --models", lambda p: run(p, "ethics_cm", model=" "), ("--models",)),
    Case("--device tpu", lambda p: run(p, "ethics_cm", "--device", "tpu"), ("'tpu'", "cuda:N")),
    Case(
        "yaml batch_size text",
        lambda p: run(p, "ethics_cm", model=p.model_yaml('batch_size: "sixteen"')),
        ("m.yaml", "batch_size", "'sixteen'"),
    ),
    Case(
        "yaml batch_size negative",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("batch_size: -4")),
        ("m.yaml", "batch_size", "-4"),
    ),
    Case(
        "yaml concurrency list",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("concurrency: [1, 2]")),
        ("m.yaml", "concurrency", "[1, 2]"),
    ),
    Case(
        "yaml prompt_format typo",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("prompt_format: chat-templat")),
        ("m.yaml", "'chat-templat'", "'chat_template'"),
    ),
    Case(
        "yaml timeout zero",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("timeout: 0")),
        ("m.yaml", "timeout"),
    ),
    Case(
        "yaml trust_remote_code text",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("trust_remote_code: maybe")),
        ("m.yaml", "trust_remote_code", "'maybe'"),
    ),
    Case(
        "--max-batch-tokens 0",
        lambda p: run(p, "ethics_cm", "--max-batch-tokens", "0"),
        ("--max-batch-tokens", "0"),
    ),
    Case(
        "--max-batch-tokens -5",
        lambda p: run(p, "ethics_cm", "--max-batch-tokens", "-5"),
        ("--max-batch-tokens", "-5"),
    ),
    Case(
        "score pope duplicate id",
        lambda p: score(
            p,
            "pope_random",
            '{"question_id": 1, "text": "yes"}\n{"question_id": 1, "text": "no"}\n',
        ),
        ("answers.jsonl:2", "second answer", "question_id 1"),
    ),
    Case(
        "score pope unknown id",
        lambda p: score(p, "pope_random", '{"question_id": 99999, "text": "yes"}\n'),
        ("answers.jsonl:1", "question_id 99999"),
    ),
    Case(
        "score pope answer of another split",
        lambda p: score(p, "pope_random", '{"question": "Is there a yak?", "answer": "yes"}\n'),
        ("answers.jsonl:1", "question differs"),
    ),
    Case(
        "score unicorn unknown pair",
        lambda p: score(
            p, "unicorn_oodcv", '[{"image": "x.jpg", "question": "Why?", "prediction": "2"}]'
        ),
        ("answers.jsonl:0", "'x.jpg'"),
    ),
    Case(
        "empty model folder",
        lambda p: run(p, "ethics_cm", model=f"hf:{p.write('empty/.keep', '').parent}"),
        ("empty", "config.json"),
    ),
    Case(
        "--data-dir is a file",
        lambda p: run(p, "ethics_cm", "--data-dir", str(p.write("data.txt", "x"))),
        ("data.txt", "not a folder"),
    ),
    Case(
        "text-only model on an image task",
        lambda p: run(p, "pope_random", model="smollm2"),
        ("pope_random", "text-only hf model"),
    ),
    Case(
        "completions route on an image task",
        lambda p: run(p, "mme", model="openai-completions:served"),
        ("mme", "text-only openai-completions"),
    ),
    Case(
        "every image missing and skipped",
        lambda p: run(p, "pope_random", "--skip-missing-images", model=f"llava:{p.model}"),
        ("pope_random", "COCO_val2014_", "no item is left"),
    ),
    Case(
        "the one image missing and skipped",
        lambda p: [*pope(p, POPE_ROW), "--skip-missing-images"],
        ("pope_random", "a.jpg"),
    ),
    # Handled before issue 12; kept so that they stay one line.
    Case("unknown task", lambda p: run(p, "truthfulqa_mc3"), ("truthfulqa_mc3", "truthfulqa_mc2")),
    Case("unknown model", lambda p: run(p, "ethics_cm", model="smolm2"), ("smolm2", "smollm2")),
    Case(
        "missing model path",
        lambda p: run(p, "ethics_cm", model=f"hf:{p.tmp}/nope"),
        ("nope", "does not exist"),
    ),
    Case(
        "missing data file",
        lambda p: run(p, "ethics_justice", "--data-dir", str(p.tmp)),
        ("ethics/justice/justice_test.csv",),
    ),
    Case(
        "missing data dir",
        lambda p: run(p, "ethics_cm", "--data-dir", str(p.tmp / "no")),
        ("does not exist", "--data-dir"),
    ),
    Case(
        "csv row with a column too many",
        lambda p: justice(p, "label,scenario\n1,a\n0,b,c\n"),
        ("justice_test.csv:3",),
    ),
    Case(
        "csv wrong header",
        lambda p: justice(p, "lab,scen\n1,a\n"),
        ("justice_test.csv", "expected header"),
    ),
    Case(
        "csv label not 0/1",
        lambda p: justice(p, "label,scenario\n2,a\n"),
        ("justice_test.csv:2", "label must be 0 or 1"),
    ),
    Case(
        "csv header only, util file empty",
        lambda p: justice(p, ""),
        ("justice_test.csv", "expected header"),
    ),
    Case(
        "virtue without [SEP]",
        lambda p: run(
            p,
            "ethics_virtue",
            "--data-dir",
            p.data_with("ethics/virtue/virtue_test.csv", "label,scenario\n1,no separator\n"),
        ),
        ("virtue_test.csv:2",),
    ),
    Case(
        "utilitarianism empty",
        lambda p: run(
            p,
            "ethics_utilitarianism",
            "--data-dir",
            p.data_with("ethics/utilitarianism/util_test.csv", ""),
        ),
        ("util_test.csv", "no items"),
    ),
    Case(
        "truthfulqa json malformed",
        lambda p: run(
            p,
            "truthfulqa_mc1",
            "--data-dir",
            p.data_with("truthfulqa/data/mc_task.json", '[{"question": '),
        ),
        ("mc_task.json", "malformed JSON"),
    ),
    Case(
        "truthfulqa question malformed",
        lambda p: run(
            p,
            "truthfulqa_mc1",
            "--data-dir",
            p.data_with("truthfulqa/data/mc_task.json", '[{"question": "q"}]'),
        ),
        ("mc_task.json", "question 0"),
    ),
    Case(
        "pope json line malformed",
        lambda p: pope(p, POPE_ROW + "{oops\n"),
        ("coco_pope_random.json:2",),
    ),
    Case(
        "pope row missing label",
        lambda p: pope(p, '{"question_id": 1, "image": "a.jpg"}\n'),
        ("coco_pope_random.json:1", "missing"),
    ),
    Case(
        "image files missing",
        lambda p: run(p, "pope_random", model=f"llava:{p.model}"),
        ("pope_random", "coco/val2014", "--skip-missing-images"),
    ),
    Case("--limit 0", lambda p: run(p, "ethics_cm", "--limit", "0"), ("--limit",)),
    Case(
        "--batch-size zero",
        lambda p: run(p, "ethics_cm", "--batch-size", "0"),
        ("--batch-size", "'0'"),
    ),
    Case(
        "--corruptions severity 9",
        lambda p: run(p, "coco_c", "--corruptions", "fog:9"),
        ("--corruptions 'fog:9'",),
    ),
    Case(
        "--compare with one model",
        lambda p: run(p, "ethics_cm", "--compare", "sbt_text"),
        ("--compare", "two --models"),
    ),
    Case("--judge unknown", lambda p: run(p, "ethics_cm", "--judge", "gpt9"), ("gpt9",)),
    Case(
        "yaml unknown key",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("batchsize: 4")),
        ("m.yaml", "batchsize"),
    ),
    Case(
        "yaml mc_protocol bogus",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("mc_protocol: guess")),
        ("m.yaml", "mc_protocol", "'guess'"),
    ),
    Case(
        "yaml malformed",
        lambda p: run(p, "ethics_cm", model=p.model_yaml("batch_size: [")),
        ("m.yaml", "cannot read YAML"),
    ),
    Case(
        "yaml not utf-8",
        lambda p: run(
            p, "ethics_cm", model=str(p.write("n.yaml", b"name: caf\xe9\nmodel: smollm2\n"))
        ),
        ("n.yaml",),
    ),
    Case(
        "yaml file missing",
        lambda p: run(p, "ethics_cm", model=str(p.tmp / "gone.yaml")),
        ("gone.yaml", "does not exist"),
    ),
    Case(
        "hf: a file that is not gguf",
        lambda p: run(p, "ethics_cm", model=f"hf:{p.write('w.bin', 'x')}"),
        ("w.bin", "not .gguf"),
    ),
    Case(
        "missing adapter",
        lambda p: run(p, "ethics_cm", model=f"hf:{p.model}+{p.tmp}/lora"),
        ("adapter directory",),
    ),
    Case(
        "score missing predictions",
        lambda p: ["score", "pope_random", "--predictions", str(p.tmp / "none.json")],
        ("none.json",),
    ),
    Case("score a judged task", lambda p: score(p, "gavie", "{}\n"), ("gavie", "--judge")),
    Case(
        "score unanswered items",
        lambda p: score(p, "pope_random", '{"question_id": 1, "text": "yes"}\n', "--limit", "2"),
        ("answers.jsonl", "1 of 2", "no answer"),
    ),
    Case(
        "score answers not utf-8",
        lambda p: score(p, "pope_random", b'{"text": "caf\xe9"}\n'),
        ("answers.jsonl", "UTF-8"),
    ),
    Case("leaderboard without results", lambda p: ["leaderboard", str(p.tmp)], ("results.json",)),
    Case(
        "leaderboard unknown spec",
        lambda p: ["leaderboard", str(p.tmp), "--spec", "sbt_txet"],
        ("sbt_txet",),
    ),
]


@pytest.fixture
def place(tmp_path: Path, tiny_model_dir: Path, data_dir: Path) -> Place:
    """A fresh scratch folder beside the session's tiny model and the real data."""
    return Place(tmp_path, tiny_model_dir, data_dir)


def test_catalogue_is_large() -> None:
    """The catalogue keeps at least 40 distinct bad inputs."""
    assert len({case.name for case in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line(
    case: Case, place: Place, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit status 2 and exactly one stderr line, naming the file or value, never a traceback."""
    monkeypatch.delenv("SBT_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = case.argv(place)
    capsys.readouterr()
    status = run_cli(*argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("sbt-bench: error: ")
    for needle in case.needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("what", ["data", "model"])
def test_unreachable_hub_fails_fast(
    what: str, place: Place, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without HF_HUB_OFFLINE an unreachable hub is one line within 5 s, naming the local way."""
    import datasets.config
    import huggingface_hub.constants

    from sbt_bench.core import hub

    # A closed local port stands for the hub; the probe's verdict and offline mode are
    # process-wide, so both are put back after the test.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SBT_DATA_DIR", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    hub._probe.cache_clear()
    if what == "data":
        argv, needle = run(place, "ethics_cm", "--data-dir", ""), "--data-dir"
    else:
        argv, needle = run(place, "ethics_cm", model="hf:some-org/some-model"), "hf:/path"
    started = time.perf_counter()
    status = run_cli(*argv)
    elapsed = time.perf_counter() - started
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    hub._probe.cache_clear()
    assert status == 2
    assert len(lines) == 1, lines
    assert needle in lines[0]
    assert "127.0.0.1:9" in lines[0]
    assert elapsed < 5  # the bound
