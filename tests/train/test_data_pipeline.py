"""Tokenisation through datasets.map (cached, multi-process), the collator, and --report-to."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_train.config import build_config
from sbt_train.data import tokenised
from sbt_train.data.dataset import SupervisedDataset
from sbt_train.data.records import Conversation
from sbt_train.encode import encode
from sbt_train.templates import TEMPLATES, Turn, render
from sbt_train.trainer import train
from tests.train.helpers import overfit_config
from tests.train.tokenizers import build_word_tokenizer

TEMPLATE = TEMPLATES["vicuna_v1"]


def conversations(n: int) -> list[Conversation]:
    return [
        Conversation(
            f"c{i}", (Turn("human", "Hi " * (i % 5 + 1)), Turn("gpt", "Hello A2" * (i % 3 + 1)))
        )
        for i in range(n)
    ]


def test_items_equal_encode_of_each_conversation(tmp_path: Path) -> None:
    """Ids and labels from the Arrow cache are exactly what `encode` gives each sample."""
    tok = build_word_tokenizer()
    convs = conversations(6)
    ds = SupervisedDataset(convs, tok, TEMPLATE, max_length=128, cache_dir=tmp_path)
    bos, eos = tok.bos_token, tok.eos_token
    for index, conv in enumerate(convs):
        want = encode(render(TEMPLATE, conv.turns, bos=bos, eos=eos), tok, max_length=128)
        assert ds[index]["input_ids"] == list(want.input_ids)
        assert ds[index]["labels"] == list(want.labels)


def test_second_build_reads_the_cache_without_tokenising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same records, tokenizer and settings are read back from disk, not re-encoded."""
    tok = build_word_tokenizer()
    first = SupervisedDataset(conversations(4), tok, TEMPLATE, max_length=128, cache_dir=tmp_path)
    assert list(tmp_path.glob("encoded-*.arrow"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tokenised again")

    monkeypatch.setattr(tokenised, "encode_rows", refuse)
    second = SupervisedDataset(conversations(4), tok, TEMPLATE, max_length=128, cache_dir=tmp_path)
    assert [second[i] for i in range(4)] == [first[i] for i in range(4)]


def test_changed_setting_makes_a_new_cache_entry(tmp_path: Path) -> None:
    """A different max_length is a different encoding: it never reuses the old file."""
    tok = build_word_tokenizer()
    SupervisedDataset(conversations(4), tok, TEMPLATE, max_length=128, cache_dir=tmp_path)
    SupervisedDataset(conversations(4), tok, TEMPLATE, max_length=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("encoded-*.arrow"))) == 2


def test_two_processes_give_the_same_items_and_reports(tmp_path: Path) -> None:
    """num_proc=2 yields the same items, skips and truncations as one process."""
    tok = build_word_tokenizer()
    convs = [*conversations(8), Conversation("img", conversations(1)[0].turns, "a.jpg")]
    one = SupervisedDataset(convs, tok, TEMPLATE, max_length=128, cache_dir=tmp_path / "a")
    two = SupervisedDataset(
        convs, tok, TEMPLATE, max_length=128, cache_dir=tmp_path / "b", num_proc=2
    )
    assert [two[i] for i in range(len(two))] == [one[i] for i in range(len(one))]
    assert two.skipped == one.skipped == {"img": tokenised.TEXT_ONLY_MODEL}


def test_report_to_unknown_or_missing_library_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--report-to names a known integration, and a missing library names the log extra."""
    base = {"stage": "text", "model": "x", "data": "d.json", "output_dir": str(tmp_path)}
    with pytest.raises(SbtError, match="'none', 'wandb' or 'tensorboard'"):
        build_config({**base, "report_to": "mlflow"})
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SbtError, match=r'pip install -e "\.\[log\]"'):
        build_config({**base, "report_to": "wandb"})


def test_report_to_tensorboard_and_data_time_in_summary(
    tiny_model_dir: Path, alpaca_file: Path, tmp_path: Path
) -> None:
    """Trainer's TensorBoard callback writes the loss; the summary records data preparation."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = overfit_config(
        "text", tiny_model_dir, alpaca_file, tmp_path, max_steps=2, report_to="tensorboard"
    )
    train(cfg)
    (events_dir,) = {p.parent for p in (tmp_path / "checkpoints").rglob("events.out.tfevents*")}
    events = EventAccumulator(str(events_dir))
    events.Reload()
    assert len(events.Scalars("train/loss")) == 2
    summary = json.loads((tmp_path / "train_summary.json").read_text(encoding="utf-8"))
    assert 0 < summary["data_preparation_s"] < summary["wall_time_s"]
