"""`TrainConfig`: one flat, typed record per run, from a YAML recipe plus CLI overrides.

YAML keys equal field names one to one; unknown keys are errors (a typo in a recipe must not
silently fall back to a default learning rate).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.validation import one_line_error
from sbt_train.data.records import Format
from sbt_train.templates import get_template

Stage = Literal["pretrain", "finetune", "text"]
STAGES: tuple[Stage, ...] = ("pretrain", "finetune", "text")
ReportTo = Literal["none", "wandb", "tensorboard"]


def _steps_or_epochs(value: int) -> int:
    """`max_steps` -1 means "train --epochs"; the Trainer reads 0 as one step, -5 as -1."""
    if value == 0 or value < -1:
        raise ValueError(
            f"give a number of steps >= 1 (or leave it out to train --epochs), got {value}"
        )
    return value


# Declared ranges, checked by pydantic per field (`_check_values`): one line, never a traceback.
Positive = Annotated[float, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
NotNegative = Annotated[int, Field(ge=0)]
Switch = Annotated[bool, Strict()]
"""No word for a boolean: a quoted "no" is a true string, so it is refused, not guessed."""
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
    format: Format = "llava"
    image_dir: str | None = None
    template: str = "vicuna_v1"
    max_length: Annotated[int, Field(ge=8)] = 2048
    sample: AtLeastOne | None = None
    """Draw this many records (seeded) from the data before training."""
    strict: Switch = False
    learning_rate: Positive = 2e-5
    epochs: Positive = 1.0
    max_steps: Annotated[int, AfterValidator(_steps_or_epochs)] = -1
    batch_size: AtLeastOne = 4
    grad_accum: AtLeastOne = 1
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.03
    """A fraction of the run: 0 <= it < 1."""
    scheduler: str = "cosine"
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    lora: Switch = False
    lora_r: AtLeastOne = 64
    lora_alpha: AtLeastOne = 16
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    seed: NotNegative = 0
    save_steps: NotNegative = 0
    """0 saves only the final model; N also writes resumable checkpoints every N steps."""
    resume: Switch = False
    bf16: Switch = False
    gradient_checkpointing: Switch = False
    attn_implementation: str | None = None
    """e.g. `flash_attention_2` (needs flash-attn), `sdpa`; None lets transformers choose."""
    deepspeed: str | None = None
    """`zero2`, `zero3` (the shipped configs) or a path to a DeepSpeed JSON."""
    logging_steps: AtLeastOne = 1
    report_to: ReportTo = "none"
    """`none`, `wandb` or `tensorboard`: where transformers' Trainer logs (the `log` extra)."""
    dataloader_num_workers: NotNegative = 0
    """Processes loading (and, for image stages, preprocessing) batches alongside training."""
    preprocessing_num_workers: AtLeastOne = 1
    """Processes tokenising the records (`datasets.map` num_proc); the result is cached."""
    overwrite: Switch = False
    """Replace a used `output_dir` (without it, or `resume`, a used folder is refused)."""
    train_embeddings: Switch | None = None
    """LoRA runs: also train the input embeddings and LM head in full and save them beside the
    adapter as `non_lora_trainables.bin` (LLaVA's LoRA runs did: its vocabulary was resized
    after `get_peft_model`). None: only when this stage adds tokens (`--projector-weights`)."""
    projector_weights: str | None = None
    """finetune: start from a stage-1 `mm_projector.bin` (or its folder), as LLaVA's
    `--pretrain_mm_mlp_adapter`: projector loaded, `<im_start>`/`<im_end>` rows copied."""

    def __post_init__(self) -> None:
        """Cross-field rules; each field's own type and range is checked in `build_config`."""
        if not self.data:
            raise SbtError("give at least one --data file")
        if self.stage == "pretrain" and self.lora:
            raise SbtError("pretrain trains the projector only; --lora applies to finetune/text")
        if self.attn_implementation == "flash_attention_2" and not importlib.util.find_spec(
            "flash_attn"
        ):
            raise SbtError("--attn-implementation flash_attention_2 needs flash-attn installed")
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


def _check_report_to(name: str) -> None:
    """`report_to`'s library is installed (the name itself is a checked Literal)."""
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
    _check_values(data, lambda name: f"{path}: {name}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML (`lr=2e-5`, `lora=true`, `sample=null`)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SbtError(f"--set {text!r}: use key=value")
    key = key.strip().replace("-", "_")
    _check_keys({key: None}, "--set")
    return key, yaml.safe_load(value)


@functools.cache
def _field_adapters() -> dict[str, TypeAdapter[Any]]:
    """One pydantic adapter per field, from its declared (Annotated) type."""
    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    config = ConfigDict(allow_inf_nan=False)
    return {f.name: TypeAdapter(hints[f.name], config=config) for f in fields(TrainConfig)}


def setting_label(name: str) -> str:
    """How an error names a setting when its source is unknown: the `--set` key."""
    return f"--set {name}"


def _check_values(values: Mapping[str, Any], label: Callable[[str], str]) -> dict[str, Any]:
    """`values` converted to each field's type, or one SbtError line naming `label(field)`.

    Lax enough for YAML (`"1e-3"` fills a float, a list fills a tuple), strict where lax
    would guess: no boolean for a number, no word for a boolean, no NaN or infinity.
    """
    adapters = _field_adapters()
    out = dict(values)
    for key, value in values.items():
        if key not in adapters:
            continue
        if isinstance(value, bool) and not _wants_bool(key):
            # pydantic's lax mode would read `true` as 1 where a number belongs.
            raise SbtError(f"{label(key)}: a boolean where a value belongs, got {value!r}")
        try:
            out[key] = adapters[key].validate_python(value)
        except ValidationError as err:
            raise one_line_error(err, _named(label(key))) from None
    return out


def _named(where: str) -> Callable[[str], str]:
    """A label for one field's adapter, whose errors carry no field name of their own."""
    return lambda _field: where


def _wants_bool(name: str) -> bool:
    hint = typing.get_type_hints(TrainConfig)[name]
    return hint is bool or bool in typing.get_args(hint)


def build_config(
    values: dict[str, Any], label: Callable[[str], str] = setting_label
) -> TrainConfig:
    """A TrainConfig from merged recipe/CLI values, each checked against its declared type.

    `label` names a field in an error the way the user gave it (`--learning-rate`).
    """
    _check_keys(values, "config")
    values = dict(values)
    if isinstance(values.get("data"), (str, Path)):
        values["data"] = (str(values["data"]),)
    values["data"] = tuple(str(d) for d in values.get("data", ()))
    missing = [k for k in ("stage", "model", "output_dir") if values.get(k) is None]
    if missing:
        raise SbtError(f"missing required setting(s): {', '.join('--' + m for m in missing)}")
    return TrainConfig(**_check_values(values, label))


def _check_keys(data: dict[str, Any], where: str) -> None:
    for key in data:
        if key not in FIELD_NAMES:
            raise SbtError(f"{where}: unknown setting {key!r}.{suggest(key, FIELD_NAMES)}")
