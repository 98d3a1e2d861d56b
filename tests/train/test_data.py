from __future__ import annotations

import importlib.util
import json

import pytest

from sbt_bench.core.errors import SbtError
from sbt_train.cli import main
from sbt_train.config import build_config
from sbt_train.data.dataset import SupervisedDataset, build_collator
from sbt_train.data.records import Conversation, load_records
from sbt_train.data.transforms import data_type, sample, split_by_type, strip_images
from sbt_train.encode import IGNORE_INDEX
from sbt_train.templates import TEMPLATES, Turn
from tests.train.tokenizers import build_word_tokenizer


def write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def chat(rid, question, answer="A2", image="a.jpg", role="gpt"):
    return {
        "id": rid,
        "image": image,
        "conversations": [{"from": "human", "value": question}, {"from": role, "value": answer}],
    }


class TestLoadRecords:
    def test_bad_records_counted_with_ids(self, tmp_path):
        """Missing image, empty turn and unknown role are rejected and listed by id."""
        (tmp_path / "a.jpg").write_bytes(b"x")
        path = write(
            tmp_path,
            "d.json",
            [
                chat("ok", "<image>\nHi"),
                chat("noimg", "<image>\nHi", image="b.jpg"),
                chat("empty", "<image>\nHi", answer="  "),
                chat("role", "Hi", role="bot"),
            ],
        )
        convs, report = load_records(path, "llava", image_dir=tmp_path)
        assert [c.id for c in convs] == ["ok"]
        assert report.bad == {
            "missing image": ("noimg",),
            "empty turn": ("empty",),
            "unknown role": ("role",),
        }
        assert "3 rejected" in report.summary()

    def test_strict_makes_bad_records_fatal(self, tmp_path):
        """--strict turns the first bad record into a one-line error naming it."""
        path = write(tmp_path, "d.json", [chat("bad", "Hi", role="bot")])
        with pytest.raises(SbtError, match="record bad: unknown role"):
            load_records(path, "llava", strict=True)

    def test_alpaca_uses_stanford_prompt(self, tmp_path):
        """Alpaca records become one human/gpt pair with the Stanford-Alpaca prompt."""
        path = write(
            tmp_path,
            "a.json",
            [
                {"instruction": "Add.", "input": "1 2", "output": "3"},
                {"instruction": "Say hi.", "input": "", "output": "hi"},
            ],
        )
        convs, _ = load_records(path, "alpaca")
        assert (
            convs[0]
            .turns[0]
            .text.endswith("### Instruction:\nAdd.\n\n### Input:\n1 2\n\n### Response:")
        )
        assert "### Input" not in convs[1].turns[0].text
        assert convs[1].turns[1] == Turn("gpt", "hi")

    def test_orca_keeps_system_prompt(self, tmp_path):
        """Orca rows put their system prompt before the question."""
        path = write(tmp_path, "o.jsonl", [])
        path.write_text(
            json.dumps(
                {"id": "o1", "system_prompt": "Be brief.", "question": "Q?", "response": "R."}
            )
            + "\n",
            encoding="utf-8",
        )
        convs, _ = load_records(path, "orca")
        assert convs[0].turns == (Turn("human", "Be brief.\n\nQ?"), Turn("gpt", "R."))

    def test_lrv_annotations(self, tmp_path):
        """LRV records (image_id, question, answer, task) become image conversations."""
        path = write(
            tmp_path,
            "l.json",
            {
                "annotations": [
                    {
                        "image_id": "2392588",
                        "question": "Is there a teapot?",
                        "answer": "No.",
                        "task": "negative",
                    }
                ]
            },
        )
        convs, _ = load_records(path, "lrv")
        assert convs[0].image == "2392588.jpg"
        assert convs[0].id == "negative-2392588"
        assert convs[0].turns[0].text == "<image>\nIs there a teapot?"

    def test_json_suffix_holding_jsonl(self, tmp_path):
        """A `.json` file that is not one JSON document is read as JSON lines."""
        path = tmp_path / "d.json"
        lines = [json.dumps(chat(rid, "Hi")) for rid in ("a", "b")]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        convs, report = load_records(path, "llava")
        assert [c.id for c in convs] == ["a", "b"]
        assert report.n_read == 2

    def test_malformed_file_is_one_line_error(self, tmp_path):
        """A file that is neither JSON nor JSONL fails naming the file and line."""
        path = tmp_path / "d.jsonl"
        path.write_text(json.dumps(chat("a", "Hi")) + "\n{oops\n", encoding="utf-8")
        with pytest.raises(SbtError, match=r"d\.jsonl:2: malformed JSON"):
            load_records(path, "llava")


class TestTransforms:
    def test_strip_images(self):
        """The text-only conversion drops the image and the `<image>` line."""
        conv = Conversation("1", (Turn("human", "<image>\nWhat?"), Turn("gpt", "Cat.")), "a.jpg")
        assert strip_images(conv) == Conversation(
            "1", (Turn("human", "What?"), Turn("gpt", "Cat."))
        )
        after = Conversation("2", (Turn("human", "What?\n<image> Why?"), Turn("gpt", "Cat.")))
        assert strip_images(after).turns[0] == Turn("human", "What? Why?")

    def test_sample_is_seeded(self):
        """Sampling N is reproducible for a seed, differs across seeds, keeps file order."""
        convs = [Conversation(str(i), (Turn("human", "q"), Turn("gpt", "a"))) for i in range(50)]
        a, b, c = sample(convs, 10, 1), sample(convs, 10, 1), sample(convs, 10, 2)
        assert a == b and a != c and len(a) == 10
        assert [int(x.id) for x in a] == sorted(int(x.id) for x in a)

    def test_split_by_type(self):
        """Multi-turn is conversation, LLaVA's detail prompts are detail, the rest reasoning."""
        two = (Turn("human", "<image>\nq"), Turn("gpt", "a"))
        convs = [
            Conversation("c", (*two, Turn("human", "q2"), Turn("gpt", "a2"))),
            Conversation(
                "d",
                (
                    Turn("human", "Describe the following image in detail.\n<image>"),
                    Turn("gpt", "long"),
                ),
            ),
            Conversation(
                "d2",
                (
                    Turn("human", "<image>\nPortray the image with a rich, descriptive narrative"),
                    Turn("gpt", "long"),
                ),
            ),
            Conversation(
                "r", (Turn("human", "<image>\nWhy is the man smiling?"), Turn("gpt", "because"))
            ),
        ]
        groups = split_by_type(convs)
        assert {k: [c.id for c in v] for k, v in groups.items()} == {
            "conversation": ["c"],
            "detail": ["d", "d2"],
            "reasoning": ["r"],
        }
        assert data_type(convs[3]) == "reasoning"

    def test_data_cli_converts_and_splits(self, tmp_path):
        """`sbt-train data` writes LLaVA JSON, text-only on request, and per-type files."""
        src = write(
            tmp_path,
            "in.json",
            [
                chat("1", "<image>\nWhy?"),
                chat("2", "<image>\nDescribe the following image in detail."),
            ],
        )
        assert main(["data", str(src), "--text-only", "--output", str(tmp_path / "t.json")]) == 0
        out = json.loads((tmp_path / "t.json").read_text())
        assert out[0] == {
            "id": "1",
            "conversations": [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "A2"}],
        }
        assert main(["data", str(src), "--split", "--output", str(tmp_path / "g")]) == 0
        assert len(json.loads((tmp_path / "g" / "detail.json").read_text())) == 1

    def test_split_by_llava_source_files_is_by_file_not_by_prompt(self, tmp_path):
        """Given LLaVA's per-type files, a detail record with an unlisted phrasing stays detail."""
        files = [
            write(tmp_path, "conversation_58k.json", [chat("c", "<image>\nWhat is it?")]),
            write(tmp_path, "detail_23k.json", [chat("d", "<image>\nWhat do you see happening?")]),
            write(tmp_path, "complex_reasoning_77k.json", [chat("r", "<image>\nWhy?")]),
        ]
        out = tmp_path / "groups"
        assert main(["data", *map(str, files), "--split", "--output", str(out)]) == 0
        for kind, rid in (("conversation", "c"), ("detail", "d"), ("reasoning", "r")):
            assert [r["id"] for r in json.loads((out / f"{kind}.json").read_text())] == [rid]


class TestDatasetAndCollator:
    def test_truncated_samples_reported_not_trained(self):
        """A sample whose answer is beyond max_length is listed in `skipped`, not in the data."""
        tok = build_word_tokenizer()
        short = Conversation("s", (Turn("human", "Hi"), Turn("gpt", "Hello")))
        long = Conversation("l", (Turn("human", "Hi " * 40), Turn("gpt", "Hello")))
        ds = SupervisedDataset([short, long], tok, TEMPLATES["vicuna_v1"], max_length=40)
        assert len(ds) == 1
        assert list(ds.skipped) == ["l"]

    def test_collator_pads_right_and_masks_padding_only(self):
        """Padding gets IGNORE_INDEX and attention 0; a real eos equal to pad keeps its label."""
        tok = build_word_tokenizer()
        convs = [
            Conversation("a", (Turn("human", "Hi"), Turn("gpt", "Hello"))),
            Conversation("b", (Turn("human", "Hi Hi Hi"), Turn("gpt", "Hello A2"))),
        ]
        ds = SupervisedDataset(convs, tok, TEMPLATES["vicuna_v1"], max_length=128)
        eos = tok.eos_token_id
        tok.pad_token = tok.eos_token  # as for checkpoints without a pad token (SmolLM2)
        batch = build_collator(tok)([ds[0], ds[1]])
        n0 = len(ds[0]["input_ids"])
        assert batch["attention_mask"][0].tolist() == [1] * n0 + [0] * (
            batch["input_ids"].shape[1] - n0
        )
        assert batch["labels"][0, n0 - 1] == eos  # the answer's </s> is still learned
        assert (batch["labels"][0, n0:] == IGNORE_INDEX).all()
        assert (batch["input_ids"][0, n0:] == eos).all()


class TestCli:
    def test_help_lists_every_subcommand(self, capsys):
        """`sbt-train -h` names each stage plus assemble, merge and data."""
        with pytest.raises(SystemExit):
            main(["-h"])
        out = capsys.readouterr().out
        for name in ("assemble", "pretrain", "finetune", "text", "merge", "data"):
            assert name in out

    def test_unknown_recipe_key_is_one_line_error(self, tmp_path, capsys):
        """A typo in a recipe is rejected with exit status 2 and a did-you-mean hint."""
        recipe = tmp_path / "r.yaml"
        recipe.write_text("learning_rat: 1.0e-3\n", encoding="utf-8")
        rc = main(
            [
                "text",
                "--recipe",
                str(recipe),
                "--model",
                "x",
                "--data",
                "d.json",
                "--output-dir",
                str(tmp_path),
            ]
        )
        assert rc == 2
        assert "learning_rate" in capsys.readouterr().err

    def test_numbers_coerced_by_field_type(self, tmp_path):
        """YAML-loose numbers become the field's type; a non-number is a one-line error."""
        base = {"stage": "text", "model": "x", "data": "d.json", "output_dir": str(tmp_path)}
        cfg = build_config({**base, "learning_rate": "1e-3", "epochs": 2, "max_steps": "5"})
        assert (cfg.learning_rate, cfg.epochs, cfg.max_steps) == (1e-3, 2.0, 5)
        assert isinstance(cfg.epochs, float)
        with pytest.raises(SbtError, match="--set warmup_ratio: input should be a valid number"):
            build_config({**base, "warmup_ratio": None})

    def test_flash_attention_needs_flash_attn(self, tmp_path, monkeypatch):
        """flash_attention_2 without flash-attn installed fails at config time, every stage."""
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
        with pytest.raises(SbtError, match="needs flash-attn"):
            build_config(
                {
                    "stage": "finetune",
                    "model": "x",
                    "data": "d.json",
                    "output_dir": str(tmp_path),
                    "attn_implementation": "flash_attention_2",
                }
            )
