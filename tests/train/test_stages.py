from __future__ import annotations

import json

import pytest
import torch

from sbt_train.config import build_config
from sbt_train.model.loading import load_causal_lm, load_llava
from sbt_train.stages import prepare_model, trainable_names
from sbt_train.trainer import train
from tests.train.helpers import overfit_config


def config(stage: str, model, **extra):
    return build_config(
        {"stage": stage, "model": str(model), "data": ("x.json",), "output_dir": "unused", **extra}
    )


class TestTrainableParameters:
    def test_pretrain_projector_only(self, tiny_llava):
        """Pretrain trains linear_1 of the projector and nothing else (linear_2 is identity)."""
        _, model = load_llava(tiny_llava)
        names = trainable_names(prepare_model(model, config("pretrain", tiny_llava)))
        assert names == [
            "model.multi_modal_projector.linear_1.weight",
            "model.multi_modal_projector.linear_1.bias",
        ]

    def test_finetune_llm_and_projector(self, tiny_llava):
        """Finetune trains the LM, its head and the projector; the vision tower stays frozen."""
        _, model = load_llava(tiny_llava)
        names = trainable_names(prepare_model(model, config("finetune", tiny_llava)))
        assert not [n for n in names if "vision_tower" in n]
        assert "model.multi_modal_projector.linear_1.weight" in names
        assert "model.multi_modal_projector.linear_2.weight" not in names
        assert "lm_head.weight" in names
        lm = [n for n, _ in model.named_parameters() if ".language_model." in n]
        assert set(lm) <= set(names)
        assert len(names) == len(lm) + 3

    def test_finetune_lora_targets_llm_only(self, tiny_llava):
        """--lora: LoRA on the LM's seven projections plus the whole projector, nothing else."""
        _, model = load_llava(tiny_llava)
        peft_model = prepare_model(model, config("finetune", tiny_llava, lora=True))
        names = trainable_names(peft_model)
        lora = [n for n in names if "lora_" in n]
        assert lora and all(".language_model." in n for n in lora)
        suffixes = {n.split(".lora_")[0].rsplit(".", 1)[1] for n in lora}
        assert suffixes == {
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        }
        others = sorted(n for n in names if "lora_" not in n)
        assert others == [
            "base_model.model.model.multi_modal_projector.modules_to_save.default.linear_1.bias",
            "base_model.model.model.multi_modal_projector.modules_to_save.default.linear_1.weight",
        ]
        assert not any(
            "vision_tower" in n and "lora" in n for n, _ in peft_model.named_parameters()
        )
        cfg = peft_model.peft_config["default"]
        assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout) == (64, 16, 0.05)

    def test_text_llm_only(self, tiny_model_dir):
        """Text trains every parameter of the causal LM (there is no vision part)."""
        _, model = load_causal_lm(str(tiny_model_dir))
        names = trainable_names(prepare_model(model, config("text", tiny_model_dir)))
        assert names == [n for n, _ in model.named_parameters()]


class TestOverfit:
    def test_pretrain_reduces_loss(self, tiny_llava, image_data, tmp_path):
        """A few projector-only steps on real images lower the caption loss; tower/LM unchanged."""
        cfg = overfit_config(
            "pretrain", tiny_llava, image_data / "captions.json", tmp_path, template="plain"
        )
        result = train(cfg)
        assert result.final_loss < result.first_loss
        _, before = load_llava(tiny_llava)
        _, after = load_llava(tmp_path)
        sd_b, sd_a = before.state_dict(), after.state_dict()
        changed = {k for k in sd_b if not torch.equal(sd_b[k], sd_a[k])}
        assert changed == {
            "model.multi_modal_projector.linear_1.weight",
            "model.multi_modal_projector.linear_1.bias",
        }
        summary = json.loads((tmp_path / "train_summary.json").read_text())
        assert summary["steps"] == 6 and summary["load_with"] == f"llava:{tmp_path}"
        assert summary["tokens_per_s"] > 0 and len(summary["data"]) == 1
        assert summary["loss_window"] == 3
        assert summary["final_mean_loss"] == pytest.approx(sum(result.losses[-3:]) / 3)

    @pytest.mark.parametrize("lora", [False, True])
    def test_finetune_reduces_loss(self, tiny_llava, image_data, tmp_path, lora):
        """Full and LoRA stage-2 steps on image conversations lower the loss."""
        cfg = overfit_config(
            "finetune",
            tiny_llava,
            image_data / "chat.json",
            tmp_path,
            lora=lora,
            learning_rate=3e-3 if lora else 1e-2,
        )
        result = train(cfg)
        assert result.final_loss < result.first_loss - 0.05

    def test_text_reduces_loss(self, tiny_model_dir, alpaca_file, tmp_path):
        """LLM-only steps on Alpaca records lower the loss and save an hf folder."""
        result = train(overfit_config("text", tiny_model_dir, alpaca_file, tmp_path))
        assert result.final_loss < result.first_loss - 0.1
        assert (tmp_path / "model.safetensors").is_file()
