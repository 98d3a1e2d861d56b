"""`TrainConfig`: one flat, typed record per run, from a YAML recipe plus CLI overrides.

YAML keys equal field names one to one; unknown keys are errors (a typo in a recipe must not
silently fall back to a default learning rate).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from sbt_bench.core.errors import SbtError, suggest
from sbt_train.data.records import FORMATS
from sbt_train.templates import get_template

Stage = Literal["pretrain", "finetune", "text"]
STAGES: tuple[Stage, ...] = ("pretrain", "finetune", "text")
RECIPES_DIR = Path(__file__).parent / "recipes"
DEEPSPEED_DIR = Path(__file__).parent / "deepspeed"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything one training stage needs; defaults are the paper's stage-2 values."""

    stage: Stage
    model: str
    """A spec as sbt-bench takes it (`smollm2`, `hf:<dir>`), or a llava folder for image stages."""
    data: tuple[str, ...]
    output_dir: str
    format: str = "llava"
    image_dir: str | None = None
    template: str = "vicuna_v1"
    max_length: int = 2048
    sample: int | None = None
    """Draw this many records (seeded) from the data before training."""
    strict: bool = False
    learning_rate: float = 2e-5
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    lora: bool = False
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    seed: int = 0
    save_steps: int = 0
    """0 saves only the final model; N also writes resumable checkpoints every N steps."""
    resume: bool = False
    bf16: bool = False
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None
    """e.g. `flash_attention_2` (needs flash-attn), `sdpa`; None lets transformers choose."""
    deepspeed: str | None = None
    """`zero2`, `zero3` (the shipped configs) or a path to a DeepSpeed JSON."""
    logging_steps: int = 1
    report_to: str = "none"
    """`none`, `wandb` or `tensorboard`: where transformers' Trainer logs (the `log` extra)."""
    dataloader_num_workers: int = 0
    """Processes loading (and, for image stages, preprocessing) batches alongside training."""
    preprocessing_num_workers: int = 1
    """Processes tokenising the records (`datasets.map` num_proc); the result is cached."""
    overwrite: bool = False
    """Replace a used `output_dir` (without it, or `resume`, a used folder is refused)."""
    train_embeddings: bool | None = None
    """LoRA runs: also train the input embeddings and LM head in full and save them beside the
    adapter as `non_lora_trainables.bin` (LLaVA's LoRA runs did: its vocabulary was resized
    after `get_peft_model`). None: only when this stage adds tokens (`--projector-weights`)."""
    projector_weights: str | None = None
    """finetune: start from a stage-1 `mm_projector.bin` (or its folder), as LLaVA's
    `--pretrain_mm_mlp_adapter`: projector loaded, `<im_start>`/`<im_end>` rows copied."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise SbtError(f"unknown stage {self.stage!r}; use one of {', '.join(STAGES)}")
        if not self.data:
            raise SbtError("give at least one --data file")
        if self.format not in FORMATS:
            raise SbtError(f"unknown --format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.stage == "pretrain" and self.lora:
            raise SbtError("pretrain trains the projector only; --lora applies to finetune/text")
        if self.batch_size < 1 or self.grad_accum < 1 or self.max_length < 8:  # noqa: PLR2004
            raise SbtError("batch_size and grad_accum must be >= 1 and max_length >= 8")
        _check_ranges(self)
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise SbtError(
                f"warmup_ratio is a fraction of the run: 0 <= it < 1, got {self.warmup_ratio}"
            )
        if self.attn_implementation == "flash_attention_2" and not importlib.util.find_spec(
            "flash_attn"
        ):
            raise SbtError("--attn-implementation flash_attention_2 needs flash-attn installed")
        if self.dataloader_num_workers < 0 or self.preprocessing_num_workers < 1:
            raise SbtError("dataloader_num_workers must be >= 0, preprocessing_num_workers >= 1")
        self._check_llava_starts()
        _check_report_to(self.report_to)
        get_template(self.template)  # an unknown name fails now, before any model is loaded

    def _check_llava_starts(self) -> None:
        """Settings that reproduce LLaVA's stage-2 start and LoRA runs."""
        if self.train_embeddings and self.deepspeed == "zero3":
            raise SbtError("train_embeddings saves whole embeddings: use zero2, not zero3")
        if self.projector_weights is not None and self.stage != "finetune":
            raise SbtError("--projector-weights starts stage 2: it applies to finetune only")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for train_summary.json)."""
        return dataclasses.asdict(self)

    def deepspeed_config(self) -> str | None:
        """The DeepSpeed JSON path, resolving the shipped `zero2`/`zero3` names."""
        if self.deepspeed in {"zero2", "zero3"}:
            return str(DEEPSPEED_DIR / f"{self.deepspeed}.json")
        return self.deepspeed


REPORT_TO = ("none", "wandb", "tensorboard")


def _check_ranges(cfg: TrainConfig) -> None:
    """Values the Trainer would misread: `max_steps 0` trains a step, `-5` a whole epoch."""
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        raise SbtError(
            f"--max-steps {cfg.max_steps}: give a number of steps >= 1 (or leave it out to "
            "train --epochs)"
        )
    if cfg.seed < 0:
        raise SbtError(f"--seed {cfg.seed}: a seed is an integer >= 0")
    for name in ("learning_rate", "epochs"):
        value = getattr(cfg, name)
        if not math.isfinite(value) or value <= 0:
            raise SbtError(f"--{name.replace('_', '-')} {value}: give a finite number > 0")
    if cfg.sample is not None and cfg.sample < 1:
        raise SbtError(f"--sample {cfg.sample}: give a number of records >= 1")
    if cfg.save_steps < 0 or cfg.lora_r < 1 or cfg.lora_alpha < 1:
        raise SbtError("--save-steps must be >= 0, --lora-r and --lora-alpha >= 1")


def _check_report_to(name: str) -> None:
    """`report_to` is a known integration whose library is installed."""
    if name not in REPORT_TO:
        raise SbtError(f"--report-to {name!r}: use one of {', '.join(REPORT_TO)}")
    if name != "none" and importlib.util.find_spec(name) is None:
        raise SbtError(f'--report-to {name} needs the {name} package: pip install -e ".[log]"')


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """Values from a recipe YAML, given as a path or the stem of a file in `recipes/`."""
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
        hint = suggest(name_or_path, known)
        raise SbtError(f"recipe {name_or_path!r} not found.{hint} Known: {', '.join(known)}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SbtError(f"{path}: a recipe is a mapping of TrainConfig fields")
    _check_keys(data, str(path))
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML (`lr=2e-5`, `lora=true`, `sample=null`)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SbtError(f"--set {text!r}: use key=value")
    key = key.strip().replace("-", "_")
    _check_keys({key: None}, "--set")
    return key, yaml.safe_load(value)


def _number(key: str, value: Any, kind: type[float | int]) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise SbtError(f"{key} must be a number, got {value!r}") from None


def build_config(values: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from merged recipe/CLI values, with types coerced where YAML is loose."""
    _check_keys(values, "config")
    values = dict(values)
    if isinstance(values.get("data"), (str, Path)):
        values["data"] = (str(values["data"]),)
    values["data"] = tuple(str(d) for d in values.get("data", ()))
    kinds: dict[object, type[float | int]] = {"float": float, "int": int}
    for f in fields(TrainConfig):
        kind = kinds.get(f.type)
        if kind is not None and f.name in values:
            values[f.name] = _number(f.name, values[f.name], kind)
    missing = [k for k in ("stage", "model", "output_dir") if values.get(k) is None]
    if missing:
        raise SbtError(f"missing required setting(s): {', '.join('--' + m for m in missing)}")
    return TrainConfig(**values)


def _check_keys(data: dict[str, Any], where: str) -> None:
    for key in data:
        if key not in FIELD_NAMES:
            raise SbtError(f"{where}: unknown setting {key!r}.{suggest(key, FIELD_NAMES)}")
