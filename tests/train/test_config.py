"""TrainConfig's declared types and ranges: valid settings build, invalid ones are one line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbt_bench.core.errors import SbtError
from sbt_train.config import TrainConfig, build_config, load_recipe

BASE: dict[str, Any] = {"stage": "text", "model": "x", "data": "d.json", "output_dir": "out"}

# Each numeric field with values its declared range accepts, and values it refuses.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "learning_rate": st.floats(min_value=1e-12, max_value=10.0),
    "epochs": st.floats(min_value=1e-3, max_value=100.0),
    "max_steps": st.one_of(st.just(-1), st.integers(min_value=1, max_value=10**6)),
    "seed": st.integers(min_value=0, max_value=2**32),
    "batch_size": st.integers(min_value=1, max_value=512),
    "grad_accum": st.integers(min_value=1, max_value=64),
    "max_length": st.integers(min_value=8, max_value=32768),
    "sample": st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
    "warmup_ratio": st.floats(min_value=0.0, max_value=0.999),
    "lora_r": st.integers(min_value=1, max_value=256),
    "lora_alpha": st.integers(min_value=1, max_value=256),
    "save_steps": st.integers(min_value=0, max_value=10**6),
    "dataloader_num_workers": st.integers(min_value=0, max_value=64),
    "preprocessing_num_workers": st.integers(min_value=1, max_value=64),
    "lora": st.booleans(),
    "bf16": st.booleans(),
}
_WORDS = st.text(min_size=1, max_size=8).filter(lambda t: not _parses_as_number(t))
_NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "learning_rate": st.one_of(st.floats(max_value=0.0), _NON_FINITE, _WORDS, st.booleans()),
    "epochs": st.one_of(st.floats(max_value=0.0), _NON_FINITE, _WORDS),
    "max_steps": st.one_of(st.just(0), st.integers(max_value=-2), _WORDS, st.just(2.5)),
    "seed": st.one_of(st.integers(max_value=-1), _WORDS, st.booleans()),
    "batch_size": st.one_of(st.integers(max_value=0), _WORDS, st.booleans(), st.just(1.5)),
    "grad_accum": st.one_of(st.integers(max_value=0), _WORDS),
    "max_length": st.one_of(st.integers(max_value=7), _WORDS),
    "sample": st.one_of(st.integers(max_value=0), _WORDS),
    "warmup_ratio": st.one_of(st.floats(min_value=1.0), st.floats(max_value=-1e-9), _NON_FINITE),
    "lora_r": st.one_of(st.integers(max_value=0), _WORDS),
    "lora_alpha": st.integers(max_value=0),
    "save_steps": st.integers(max_value=-1),
    "dataloader_num_workers": st.integers(max_value=-1),
    "preprocessing_num_workers": st.integers(max_value=0),
    "lora": st.one_of(st.sampled_from(["no", "yes", "false"]), st.just([1])),
    "stage": st.sampled_from(["train", "", "Pretrain"]),
    "format": st.sampled_from(["csv", "LLAVA", ""]),
    "report_to": st.sampled_from(["mlflow", "None", ""]),
}


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({}, optional=VALID))
def test_valid_settings_build(chosen: dict[str, Any]) -> None:
    """Any mix of in-range values builds a TrainConfig holding exactly those values."""
    cfg = build_config({**BASE, **chosen})
    assert isinstance(cfg, TrainConfig)
    for key, value in chosen.items():
        assert getattr(cfg, key) == value


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(INVALID)).flatmap(lambda k: st.tuples(st.just(k), INVALID[k])))
def test_invalid_setting_is_one_sbt_error_line(case: tuple[str, Any]) -> None:
    """An out-of-range number, a wrong type or an unknown choice is one SbtError line naming it."""
    key, value = case
    with pytest.raises(SbtError) as caught:
        build_config({**BASE, key: value})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"--set {key}: ")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(sorted(INVALID)).flatmap(lambda k: st.tuples(st.just(k), INVALID[k])))
def test_recipe_value_error_names_file_and_field(tmp_path: Path, case: tuple[str, Any]) -> None:
    """A bad value in a recipe YAML is refused on loading, naming the file and the field."""
    key, value = case
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    with pytest.raises(SbtError) as caught:
        load_recipe(str(recipe))
    assert str(caught.value).startswith(f"{recipe}: {key}: ")
    assert "\n" not in str(caught.value)


def test_cross_field_rule_stays_explicit() -> None:
    """Pretraining with --lora is refused by the cross-field check once each field passes."""
    with pytest.raises(SbtError, match="pretrain trains the projector only"):
        build_config({**BASE, "stage": "pretrain", "lora": True})


def test_quoted_word_for_a_switch_is_refused() -> None:
    """A quoted "no" for a boolean is refused, not read as a true string."""
    with pytest.raises(SbtError, match="--set lora: input should be a valid boolean"):
        build_config({**BASE, "lora": "no"})
