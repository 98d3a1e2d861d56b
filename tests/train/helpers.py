"""Build configs for short overfit runs of each stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sbt_train.config import TrainConfig, build_config


def overfit_config(stage: str, model: Path, data: Path, out: Path, **extra: Any) -> TrainConfig:
    """A few steps at a high learning rate on a tiny set, no warmup, constant schedule."""
    values: dict[str, Any] = {
        "stage": stage,
        "model": str(model),
        "data": (str(data),),
        "output_dir": str(out),
        "template": "vicuna_v1",
        "max_length": 256,
        "learning_rate": 1e-2,
        "max_steps": 6,
        "batch_size": 4,
        "warmup_ratio": 0.0,
        "scheduler": "constant",
    }
    if stage != "text":
        values["image_dir"] = str(data.parent)
    if stage == "text":
        values["format"] = "alpaca"
    values.update(extra)
    return build_config(values)
