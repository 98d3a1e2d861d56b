from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from sbt_bench.backends.models import parse_model_spec
from sbt_bench.cli import main as bench_main
from sbt_train.merge import merge
from sbt_train.model.loading import load_llava
from sbt_train.trainer import train
from tests.train.helpers import overfit_config


class _Crash(TrainerCallback):
    """Kill the run right after `step` (as a pre-empted job would die)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


class TestResume:
    def test_killed_run_resumes_to_same_losses(self, tiny_model_dir, alpaca_file, tmp_path):
        """A run killed after its step-3 checkpoint resumes to the uninterrupted loss curve."""
        kw = {
            "max_steps": 6,
            "batch_size": 2,
            "save_steps": 3,
            "scheduler": "cosine",
            "learning_rate": 5e-3,
        }
        straight = train(overfit_config("text", tiny_model_dir, alpaca_file, tmp_path / "a", **kw))
        cfg = overfit_config("text", tiny_model_dir, alpaca_file, tmp_path / "b", **kw)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, callbacks=[_Crash(4)])
        assert (tmp_path / "b" / "checkpoints" / "checkpoint-3").is_dir()
        resumed = train(
            overfit_config("text", tiny_model_dir, alpaca_file, tmp_path / "b", resume=True, **kw)
        )
        assert resumed.steps == 6
        # The log restored from checkpoint-3 holds steps 1-3; steps 4-6 are the resumed ones.
        assert len(resumed.losses) == 6
        assert resumed.losses == pytest.approx(straight.losses, abs=1e-5)


class TestLoraMerge:
    def test_merged_logits_equal_adapter_logits(self, tiny_llava, image_data, tmp_path):
        """Merging the LoRA adapter (+ projector) gives the adapter model's logits to 1e-5."""
        from peft import PeftModel

        cfg = overfit_config(
            "finetune",
            tiny_llava,
            image_data / "chat.json",
            tmp_path / "lora",
            lora=True,
            max_steps=3,
            learning_rate=3e-3,
        )
        train(cfg)
        merged_dir = merge(tmp_path / "lora", tmp_path / "merged")
        processor, base = load_llava(tiny_llava)
        adapter = PeftModel.from_pretrained(base, str(tmp_path / "lora")).eval()
        _, merged = load_llava(merged_dir)
        merged.eval()
        from PIL import Image

        image = Image.open(image_data / "chelsea.jpg").convert("RGB")
        batch = processor(images=image, text="<image>\nWhat is it? a cat", return_tensors="pt")
        with torch.no_grad():
            want = adapter(**batch).logits
            got = merged(**batch).logits
        assert torch.allclose(want, got, atol=1e-5)
        with torch.no_grad():
            plain = load_llava(tiny_llava)[1].eval()(**batch).logits
        assert not torch.allclose(plain, got, atol=1e-3)  # training did change the model
        # The merged folder asks the model as the adapter was trained (vicuna_v1), not as the
        # base's earlier stage was.
        trained = (tmp_path / "lora" / "chat_template.jinja").read_text()
        assert (merged_dir / "chat_template.jinja").read_text() == trained
        assert "USER: " in trained


def _bench(model: str, out, data_dir, task: str = "truthfulqa_mc2") -> dict:
    argv = [
        "run",
        "--tasks",
        task,
        "--models",
        model,
        "--limit",
        "2",
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(out),
    ]
    try:
        rc = bench_main(argv)
    except SystemExit as done:  # the sbt-bench CLI exits with its status
        rc = done.code
    assert rc in {0, None}
    found = [json.loads(p.read_text()) for p in out.rglob("*.json")]
    results = [r for r in found if isinstance(r, dict) and task in r.get("tasks", {})]
    assert results, f"no {task} result under {out}"
    return results[0]["tasks"][task]


class TestSbtBenchHandoff:
    def test_text_output_scores_in_sbt_bench(self, tiny_model_dir, alpaca_file, data_dir, tmp_path):
        """A `text` output folder loads as hf:<dir> and runs truthfulqa_mc2 end to end."""
        train(overfit_config("text", tiny_model_dir, alpaca_file, tmp_path / "t", max_steps=2))
        result = _bench(f"hf:{tmp_path / 't'}", tmp_path / "eval", data_dir)
        assert result["n_samples"] == 2

    def test_text_lora_output_scores_as_base_plus_adapter(
        self, tiny_model_dir, alpaca_file, data_dir, tmp_path
    ):
        """A `text --lora` output loads as hf:<base>+<adapter> and runs one task."""
        train(
            overfit_config(
                "text",
                tiny_model_dir,
                alpaca_file,
                tmp_path / "t",
                max_steps=2,
                lora=True,
                lora_r=4,
            )
        )
        summary = json.loads((tmp_path / "t" / "train_summary.json").read_text())
        assert summary["load_with"] == f"hf:{tiny_model_dir}+{tmp_path / 't'}"
        assert parse_model_spec(summary["load_with"]).adapter == str(tmp_path / "t")
        result = _bench(summary["load_with"], tmp_path / "eval", data_dir)
        assert result["n_samples"] == 2

    def test_llava_outputs_score_in_sbt_bench(self, tiny_llava, image_data, data_dir, tmp_path):
        """Pretrain, finetune and LoRA outputs load as their summary's `load_with` and run POPE.

        No prompt format is given: each checkpoint carries the chat template it was trained with.
        """
        from tests.vision_data import link_question_files, write_images

        vision = link_question_files(data_dir, tmp_path / "vision-data")
        write_images(vision, data_dir, ["pope_random"], 2)
        for name, stage, data, template, lora in (
            ("pretrain", "pretrain", "captions.json", "plain", False),
            ("finetune", "finetune", "chat.json", "vicuna_v1", False),
            ("lora", "finetune", "chat.json", "vicuna_v1", True),
        ):
            out = tmp_path / name
            extra = {"lora": True, "lora_r": 4} if lora else {}
            config = overfit_config(
                stage, tiny_llava, image_data / data, out, max_steps=1, template=template, **extra
            )
            train(config)
            summary = json.loads((out / "train_summary.json").read_text())
            result = _bench(summary["load_with"], tmp_path / f"eval-{name}", vision, "pope_random")
            assert result["n_samples"] == 2
