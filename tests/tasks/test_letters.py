"""Multiple choice on chat APIs (the letter protocol), token usage and cost, protocol marks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.analysis.leaderboard import (
    build_table,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
)
from sbt_bench.backends import parse_model_spec
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import Response
from sbt_bench.metrics import choice_accuracy, true_mass
from sbt_bench.results.records import new_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults
from sbt_bench.results.usage import Price, Usage, estimate_cost, price_for
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.letters import LetterChoiceTask, first_letter, read_letters
from sbt_bench.tasks.source import load_records
from tests.backends.test_openai_api import model_file, run
from tests.cli_runner import results_of, run_cli
from tests.fake_openai import FakeOpenAI, letter_logprobs, tokenize


def expected_letter_scores(name: str, data_dir: Path, seed: int, limit: int) -> list[float]:
    """Scores recomputed from the fake's letter log-probabilities of each shown prompt."""
    task = build_task(TASKS.get(name), mc_protocol="letters", seed=seed)
    assert isinstance(task, LetterChoiceTask)
    scorer = choice_accuracy if name.endswith("mc1") else true_mass
    scores = []
    for i, record in enumerate(load_records(name, task.spec.dataset, data_dir)[:limit]):
        sample = task.build_samples(i, record, data_dir)[0]
        by_letter = letter_logprobs(task.prompt(sample))
        per_choice = [0.0] * len(sample.choices)
        for shown, choice in enumerate(task.order(sample)):
            per_choice[choice] = by_letter["ABCDEFGHIJKLMNOPQRSTUVWXYZ"[shown]]
        scores.append(scorer(per_choice, sample.gold))
    return scores


class TestLetterProtocol:
    def test_chat_models_score_mc_from_letter_top_logprobs(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """`openai:` defaults to letters: mc1/mc2 come from the first token's top_logprobs."""
        model = model_file(tmp_path, server, kind="openai")
        assert run(model, "truthfulqa_mc1,truthfulqa_mc2", data_dir, tmp_path / "out") == 0
        results = results_of(tmp_path / "out")
        for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
            entry = results["tasks"][name]  # type: ignore[index]
            assert entry["protocol"] == "letters-top_logprobs"
            assert entry["protocol_counts"] == {"letters-top_logprobs": 4}
            assert entry["shuffle_seed"] == 0
            want = expected_letter_scores(name, data_dir, seed=0, limit=4)
            assert entry["metrics"]["acc"] == pytest.approx(sum(want) / len(want), abs=1e-12)
        assert set(server.requests) == {"/v1/chat/completions"}
        assert all(b["logprobs"] is True and b["top_logprobs"] == 20 for b in server.bodies)

    def test_option_order_is_shuffled_by_the_seed(self, data_dir: Path) -> None:
        """The shown order is a fixed permutation per (seed, item), not the file order."""
        spec = TASKS.get("truthfulqa_mc2")
        records = load_records("truthfulqa_mc2", spec.dataset, data_dir)[:10]
        orders = {}
        for seed in (0, 1):
            task = LetterChoiceTask(spec, seed)
            samples = [task.build_samples(i, r, data_dir)[0] for i, r in enumerate(records)]
            orders[seed] = [task.order(s) for s in samples]
            assert orders[seed] == [task.order(s) for s in samples]
        assert any(order != sorted(order) for order in orders[0])
        assert orders[0] != orders[1]

    def test_without_top_logprobs_the_generated_letter_is_read(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """A server that ignores `logprobs` yields letters-generated: mc2 is 0 or 1 per item."""
        server.chat_logprobs = False
        model = model_file(tmp_path, server, kind="openai")
        assert run(model, "truthfulqa_mc2", data_dir, tmp_path / "out") == 0
        entry = results_of(tmp_path / "out")["tasks"]["truthfulqa_mc2"]  # type: ignore[index]
        assert entry["protocol"] == "letters-generated"
        (samples,) = (tmp_path / "out").glob("*/samples_truthfulqa_mc2.jsonl")
        rows = [json.loads(line) for line in samples.read_text().splitlines()]
        assert {r["scores"]["acc"] for r in rows} <= {0.0, 1.0}
        assert all(r["protocol"] == "letters-generated" and r["letter_order"] for r in rows)

    def test_letters_generated_protocol_never_asks_for_logprobs(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """mc_protocol: letters-generated reads the written letter even where logprobs exist."""
        model = model_file(tmp_path, server, kind="openai", mc_protocol="letters-generated")
        assert run(model, "truthfulqa_mc1", data_dir, tmp_path / "out") == 0
        entry = results_of(tmp_path / "out")["tasks"]["truthfulqa_mc1"]  # type: ignore[index]
        assert entry["protocol"] == "letters-generated"
        assert server.bodies
        assert not any(body.get("logprobs") for body in server.bodies)

    def test_a_server_refusing_logprobs_falls_back_to_the_generated_letter(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """A 400 to `logprobs` is not an item failure: the letter is read from the text."""
        server.refuse_logprobs = True
        model = model_file(tmp_path, server, kind="openai", concurrency=1)
        assert run(model, "ethics_cm", data_dir, tmp_path / "out") == 0
        entry = results_of(tmp_path / "out")["tasks"]["ethics_cm"]  # type: ignore[index]
        assert entry["n_failed"] == 0
        assert entry["protocol"] == "letters-generated"

    def test_mc_protocol_loglikelihood_on_a_chat_spec_is_kept(self, tmp_path: Path) -> None:
        """An explicit mc_protocol wins over the backend default; a bad value names the file."""
        path = tmp_path / "m.yaml"
        path.write_text("model: openai-completions:x\nmc_protocol: letters\n", encoding="utf-8")
        assert parse_model_spec(str(path)).choice_protocol() == "letters"
        assert parse_model_spec("openai:x").choice_protocol() == "letters"
        assert parse_model_spec("openai-completions:x").choice_protocol() == "loglikelihood"
        path.write_text("model: openai:x\nmc_protocol: guess\n", encoding="utf-8")
        with pytest.raises(SbtError, match=r"m\.yaml: .*mc_protocol"):
            parse_model_spec(str(path))


class TestReadLetters:
    def test_token_spellings_of_one_letter_are_summed(self) -> None:
        """Tokens spelling "A", " A" and "A." are one letter: their probabilities add up."""
        tops = {"A": math.log(0.3), " A": math.log(0.2), "A.": math.log(0.1), "B": math.log(0.4)}
        by_letter, protocol = read_letters(Response(text="B", top_logprobs=tops), "AB")
        assert protocol == "letters-top_logprobs"
        assert math.exp(by_letter["A"]) == pytest.approx(0.6)
        assert math.exp(by_letter["B"]) == pytest.approx(0.4)

    def test_top_logprobs_without_a_letter_fall_back_to_the_text(self) -> None:
        """Top tokens naming no option letter leave the generated text to decide."""
        response = Response(text="(C) because", top_logprobs={"The": -0.1, "Z": -1.0})
        assert read_letters(response, "ABC") == ({"C": 0.0}, "letters-generated")

    def test_no_letter_anywhere_is_unparsed(self) -> None:
        """An answer naming no option is unparsed (scored 0 and counted)."""
        assert read_letters(Response(text="I cannot say."), "AB") == ({}, "letters-unparsed")
        assert first_letter("Answer: B. yes", "AB") == "B"
        assert first_letter("Option E", "ABCD") is None

    def test_unparsed_items_score_zero(self, data_dir: Path) -> None:
        """An unparsed answer scores 0 on every metric, never the first choice by default."""
        task = LetterChoiceTask(TASKS.get("truthfulqa_mc1"), seed=0)
        record = load_records("truthfulqa_mc1", task.spec.dataset, data_dir)[0]
        sample = task.build_samples(0, record, data_dir)[0]
        item = task.score(sample, [Response(text="no idea")])
        assert item.scores == {"acc": 0.0}
        assert item.protocol == "letters-unparsed"


class TestUsageAndCost:
    def test_results_hold_token_usage_and_cost_from_the_model_prices(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """Usage sums the API's token counts per task; cost uses the YAML's prices."""
        model = model_file(
            tmp_path,
            server,
            kind="openai",
            price_prompt_per_1m=2.0,
            price_completion_per_1m=8.0,
        )
        assert run(model, "truthfulqa_gen", data_dir, tmp_path / "out", limit=3) == 0
        entry: Any = results_of(tmp_path / "out")["tasks"]["truthfulqa_gen"]  # type: ignore[index]
        prompts = [b["messages"][0]["content"] for b in server.bodies]
        assert entry["usage"]["prompt_tokens"] == sum(len(tokenize(p)) for p in prompts)
        assert entry["usage"]["responses"] == 3
        want = (entry["usage"]["prompt_tokens"] * 2 + entry["usage"]["completion_tokens"] * 8) / 1e6
        assert entry["cost_usd"] == pytest.approx(want)
        assert entry["price"]["source"] == "model spec"

    def test_unknown_price_is_null_not_zero(
        self, server: FakeOpenAI, data_dir: Path, tmp_path: Path
    ) -> None:
        """A served model without prices reports its usage and a null cost."""
        model = model_file(tmp_path, server, kind="openai")
        assert run(model, "truthfulqa_gen", data_dir, tmp_path / "out", limit=2) == 0
        entry = results_of(tmp_path / "out")["tasks"]["truthfulqa_gen"]
        raw = next((tmp_path / "out").glob("*/results.json")).read_text()
        assert entry["usage"]["responses"] == 2
        assert entry["cost_usd"] is None
        assert '"cost_usd": null' in raw

    def test_builtin_prices_match_dated_snapshots_on_the_official_api_only(self) -> None:
        """gpt-4-turbo-2024-04-09 is billed as gpt-4-turbo; a local server is never billed."""
        price = price_for(parse_model_spec("openai:gpt-4-turbo-2024-04-09"))
        assert price is not None
        assert (price.prompt_per_1m, price.completion_per_1m) == (10.0, 30.0)
        assert price_for(parse_model_spec("openai:gpt-4o-mini")) == Price(0.15, 0.6, price.source)
        assert price_for(parse_model_spec("openai:my-llama")) is None
        local = parse_model_spec("openai:gpt-4")
        assert price_for(type(local)(**{**local.__dict__, "base_url": "http://x"})) is None
        assert estimate_cost(Usage(10, 10, 1), None) is None


def protocol_doc(name: str, protocol: str, acc: float) -> RunResults:
    doc = new_results(ModelIdentity(name=name), RecordedConfig()).document
    doc["tasks"] = {
        "truthfulqa_mc2": {"metrics": {"acc": acc}, "protocol": protocol},
        "truthfulqa_mc1": {"metrics": {"acc": acc}, "protocol": "loglikelihood"},
    }
    return RunResults.from_document(doc)


class TestLeaderboardProtocols:
    def test_a_column_mixing_protocols_is_marked_not_comparable(self) -> None:
        """Values from different protocols in one column carry their protocol and a warning."""
        docs = [
            protocol_doc("local", "loglikelihood", 0.4),
            protocol_doc("gpt", "letters-top_logprobs", 0.7),
        ]
        table = build_table(docs, load_leaderboard_spec("sbt_text"))
        assert table.mixed == ("TruthfulQA mc2",)
        markdown = render_markdown(table)
        assert "0.7000 [letters-top_logprobs]" in markdown
        assert "Not comparable: 'TruthfulQA mc2'" in markdown
        assert "| local | 0.4000 | 0.4000 [loglikelihood] |" in markdown
        csv_lines = render_csv(table).splitlines()
        assert csv_lines[0].endswith(",protocol:TruthfulQA mc2")
        assert csv_lines[1].endswith(",loglikelihood")
        assert csv_lines[2].endswith(",letters-top_logprobs")

    def test_one_protocol_per_column_is_not_marked(self) -> None:
        """Numbers from the same protocol render plainly."""
        docs = [protocol_doc("a", "loglikelihood", 0.4), protocol_doc("b", "loglikelihood", 0.5)]
        table = build_table(docs, load_leaderboard_spec("sbt_text"))
        assert table.mixed == ()
        assert "[" not in render_markdown(table)


class TestCompare:
    def test_compare_runs_the_spec_tasks_on_both_and_prints_differences(
        self,
        server: FakeOpenAI,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """One command runs a pair on the preset's tasks; mixed protocols are marked."""
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        text_model = model_file(tmp_path / "a", server)  # completions: loglikelihood
        chat_model = model_file(tmp_path / "b", server, kind="openai")  # chat: letters
        code = run_cli(
            *("run", "--compare", "gpt4v_comparison"),
            *("--models", f"{text_model},{chat_model}", "--limit", "2"),
            *("--data-dir", str(data_dir), "--output-dir", str(tmp_path)),
        )
        assert code == 0
        out = capsys.readouterr().out
        assert "fake-openai vs fake-openai-completions (gpt4v_comparison)" in out
        table = out[out.index("| column |") :]
        assert len(table.strip().splitlines()) == 2 + 8  # header, rule, one row per column
        assert "| ETHICS mean |" in table
        assert "no (loglikelihood vs letters-top_logprobs)" in table
        assert set(server.requests) == {"/v1/completions", "/v1/chat/completions"}

    def test_compare_needs_two_models(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--compare with one model is a one-line error."""
        assert run_cli("run", "--compare", "gpt4v_comparison", "--models", "openai:a") == 2
        assert "exactly two --models" in capsys.readouterr().err


def test_alternatives_after_a_non_letter_token_are_not_read_as_the_answer() -> None:
    """After a first token like "(" the generated letter counts, not the leftover letters."""
    response = Response(text="(A) Paris", top_logprobs={"(": -0.01, "B": -5.0, "C": -6.0})
    assert read_letters(response, "ABC") == ({"A": 0.0}, "letters-generated")
