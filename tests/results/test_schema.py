"""The results.json schema: old files load unchanged, newer ones are refused, values round-trip.

The fixture `fixtures/results_a0a2874/` holds results folders written by the code before the
schema (commit a0a2874: two tiny HF models and a fake chat API under the letters protocol,
on TruthfulQA and ETHICS at --limit 6) and the leaderboard texts that code printed for them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import sbt_bench
from sbt_bench.core.errors import SbtError
from sbt_bench.results.schema import (
    SCHEMA_VERSION,
    GroupResult,
    ModelIdentity,
    RecordedConfig,
    RunResults,
    TaskResult,
)
from tests.backends.test_openai_api import model_file
from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt
from tests.fake_openai import FakeOpenAI

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "results_a0a2874"
MODELS = ("tiny-0", "tiny-1", "fake-chat")
# Issue 20 item 4 changed one sentence of `--base`: `*` now means better, `!` worse.
OLD_LEGEND = "; * p < 0.05 after Holm's correction across the row's columns."
NEW_LEGEND = (
    "; * better, ! worse than the base at p < 0.05 after Holm's correction across the row's "
    "columns (by each metric's direction: a metric without one, like yes_ratio, is never marked)."
)


class TestOldResults:
    @pytest.mark.parametrize("model", MODELS)
    def test_an_old_file_round_trips_byte_for_byte(self, model: str) -> None:
        """A results.json written before the schema loads and is written back unchanged."""
        path = OLD / "out" / model / "results.json"
        results = sbt_bench.load_results(path.parent)
        assert results.schema_version == 1
        assert results.model.name == model
        assert results.tasks["ethics_cm"].n_samples == 6
        assert results.to_json() == path.read_text(encoding="utf-8")

    def test_old_fields_are_typed(self) -> None:
        """The chat run's protocol, letter seed, usage and price read as typed values."""
        chat = sbt_bench.load_results(OLD / "out" / "fake-chat")
        mc1 = chat.tasks["truthfulqa_mc1"]
        assert (
            mc1.spec_hash
            == json.loads((OLD / "out/fake-chat/results.json").read_text())["tasks"][
                "truthfulqa_mc1"
            ]["hash"]
        )
        assert mc1.protocol == "letters-top_logprobs"
        assert mc1.shuffle_seed == 0
        assert mc1.usage is not None and mc1.usage.responses == 6
        assert mc1.price is not None and mc1.price.source == "model spec"
        assert mc1.samples is not None and mc1.samples.lines == 6
        assert chat.groups["ethics"].tasks == (
            "ethics_cm",
            "ethics_deontology",
            "ethics_justice",
            "ethics_utilitarianism",
            "ethics_virtue",
        )

    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            ((), "leaderboard.md"),
            (("--ci",), "leaderboard_ci.md"),
            (("--format", "csv"), "leaderboard.csv"),
            (("--base", "tiny-0"), "leaderboard_base.md"),
            (("--base", "tiny-0", "--format", "csv"), "leaderboard_base.csv"),
        ],
    )
    def test_the_leaderboard_is_the_text_the_old_code_printed(
        self,
        flags: tuple[str, ...],
        expected: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`leaderboard` over the old folders prints what a0a2874 printed, to the character.

        Only `--base`'s legend differs (item 4 reworded it), and the CSV's paired
        intervals: issue 22 made a difference of shares Newcombe's interval, inside
        [-1, 1] (a0a2874 printed 1.0799 as an upper end), so that file is regenerated.
        """
        monkeypatch.chdir(OLD)  # the --base notes name the folders as given: out/<model>
        assert run_cli("leaderboard", "out", "--spec", "sbt_text", *flags) == 0
        old_text = (OLD / "expected" / expected).read_text(encoding="utf-8")
        assert capsys.readouterr().out == old_text.replace(OLD_LEGEND, NEW_LEGEND)


class TestSchemaVersion:
    def test_a_newer_schema_is_refused_saying_to_upgrade(self, tmp_path: Path) -> None:
        """A results.json of a later schema stops `leaderboard` with one line: upgrade sbt-bench."""
        doc = json.loads((OLD / "out" / "tiny-0" / "results.json").read_text())
        doc["schema_version"] = SCHEMA_VERSION + 1
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "results.json").write_text(json.dumps(doc))
        proc = sbt("leaderboard", str(tmp_path / "m"))
        assert_one_line_error(proc, "results.json", "newer sbt-bench", "upgrade sbt-bench")

    def test_a_wrong_field_type_is_named(self) -> None:
        """A field of the wrong type is one SbtError naming the field, not a traceback."""
        doc = json.loads((OLD / "out" / "tiny-0" / "results.json").read_text())
        doc["tasks"]["ethics_cm"]["n_samples"] = "six"
        with pytest.raises(SbtError, match=r"tasks\.ethics_cm\.n_samples"):
            RunResults.from_json(json.dumps(doc))


class TestRoundTrip:
    def test_a_built_document_round_trips(self) -> None:
        """to_json then from_json gives equal values; an undefined number is written null."""
        task = TaskResult(
            version="1.0",
            spec_hash="abc",
            n_samples=1,
            n_available=10,
            limit=1,
            metrics={"acc": 1.0, "f1": math.nan},
            directions={"acc": True, "f1": None},
            stderr={"acc": math.nan},
            ci95={"acc": (0.2, 1.0)},
            data_source="/data/x.jsonl",
            n_requests=2,
            protocol="loglikelihood",
            protocol_counts={"loglikelihood": 1},
        )
        group = GroupResult(tasks=("t",), metrics={"acc": 1.0}, stderr={"acc": 0.0})
        results = RunResults(
            model=ModelIdentity(name="m", fingerprint="f"),
            config=RecordedConfig(limit=1, seed=0, data_dir="hub"),
            tasks={"t": task},
            groups={"g": group},
            created_at="2026-01-01T00:00:00+00:00",
        )
        text = results.to_json()
        assert json.loads(text)["tasks"]["t"]["metrics"] == {"acc": 1.0, "f1": None}
        assert json.loads(text)["tasks"]["t"]["hash"] == "abc"
        again = RunResults.from_json(text)
        assert again.to_json() == text
        assert again.tasks["t"].spec_hash == "abc"
        assert again.tasks["t"].ci95 == {"acc": (0.2, 1.0)}
        assert again.tasks["t"].directions == {"acc": True, "f1": None}  # None kept, not dropped

    def test_a_file_path_round_trips(self, tmp_path: Path) -> None:
        """to_json(path) writes the file from_json(path) reads back equal, with its path."""
        results = RunResults(model=ModelIdentity(name="m"), tasks={"t": TaskResult(metrics={})})
        path = tmp_path / "results.json"
        results.to_json(path)
        loaded = RunResults.from_json(path)
        assert loaded.path == path
        assert loaded.model_copy(update={"path": None}) == results

    def test_keys_only_some_tasks_have_are_left_out(self) -> None:
        """Optional keys (parser, protocol, usage...) are written only when they hold something."""
        written = TaskResult(metrics={"acc": 0.5}, shuffle_seed=0).document
        assert written["shuffle_seed"] == 0  # a seed of 0 is a value
        for key in ("parser", "protocol", "usage", "cost_usd", "price", "predict_only", "notes",
                    "directions"):  # fmt: skip
            assert key not in written


class TestLettersPredictOnly:
    def test_predict_only_then_score_gives_the_scored_numbers(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """An API model's predict-only letters run, scored later, equals its scored run."""
        model = model_file(tmp_path, server, kind="openai")
        tasks = "truthfulqa_mc1,truthfulqa_mc2"
        common = ["--tasks", tasks, "--models", model, "--limit", "4", "--data-dir", str(data_dir)]
        assert run_cli("run", *common, "--output-dir", str(tmp_path / "full")) == 0
        assert (
            run_cli("run", *common, "--output-dir", str(tmp_path / "pred"), "--predict-only") == 0
        )
        full = results_of(tmp_path / "full")["tasks"]
        predicted = results_of(tmp_path / "pred")["tasks"]
        for task in tasks.split(","):
            # One builder: the predict-only entry records what the scored one does.
            for key in ("hash", "n_requests", "protocol", "protocol_counts", "shuffle_seed"):
                assert predicted[task][key] == full[task][key], key
            assert predicted[task]["usage"] == full[task]["usage"]
            (samples,) = (tmp_path / "pred").glob(f"*/samples_{task}.jsonl")
            lines = [json.loads(line) for line in samples.read_text().splitlines()]
            assert all(line["loglikelihoods"] and line["top_logprobs"] for line in lines)
            assert all(line["scores"] == {} for line in lines)
            args = ["--predictions", str(samples), "--limit", "4", "--data-dir", str(data_dir)]
            assert run_cli("score", task, *args, "--output-dir", str(tmp_path / "s")) == 0
            # Named after the model that predicted: both tasks fill one folder.
            (folder,) = (tmp_path / "s").glob("predictions__*")
            scored = results_of_task(folder, task)
            assert scored["metrics"] == full[task]["metrics"]
            for key in ("hash", "protocol", "protocol_counts", "shuffle_seed", "stderr"):
                assert scored[key] == full[task][key], key


def results_of_task(folder: Path, task: str) -> dict[str, object]:
    """One task's entry of the results.json in `folder`."""
    entry: dict[str, object] = json.loads((folder / "results.json").read_text())["tasks"][task]
    return entry
