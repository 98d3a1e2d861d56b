"""Property-based tests of every user-input reader and schema (hypothesis).

For each: generated valid inputs are parsed into exactly what was written (round trip),
generated invalid ones give one SbtError line, and no generated input raises anything else.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbt_bench.analysis.spec_check import check_spec
from sbt_bench.core.errors import SbtError
from sbt_bench.core.field_types import check_field_values
from sbt_bench.core.files import read_json_lines
from sbt_bench.core.prompt_settings import GenKwargs, parse_gen_kwargs
from sbt_bench.rescoring.answer_sheet import reply_text
from sbt_bench.results.schema import RunResults
from sbt_bench.tasks.multiple_choice import read_choices, read_label
from sbt_bench.tasks.spec import GenerationSpec, build_group_spec

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def one_line_or_value(parse: Callable[[], Any]) -> Any:
    """The parsed value, or None after checking the SbtError is one line (nothing else escapes)."""
    try:
        return parse()
    except SbtError as err:
        message = str(err)
    assert message
    assert "\n" not in message
    return None


@FAST
@given(st.integers(-(10**6), 10**6))
def test_integer_labels_round_trip(value: int) -> None:
    """An integer label (or the same as 2.0 or "2") reads back as that integer."""
    assert read_label(value, "f") == value
    assert read_label(float(value), "f") == value
    assert read_label(str(value), "f") == value


@FAST
@given(JSON)
def test_any_label_is_an_integer_or_one_line(value: object) -> None:
    """NaN, 1.5, true, a list: one line; never another exception."""
    result = one_line_or_value(lambda: read_label(value, "item 1: field 'answer'"))
    if result is not None:
        assert isinstance(result, int)
        assert not isinstance(value, bool)


@FAST
@given(st.lists(st.text(min_size=1).filter(str.strip), min_size=2, max_size=6))
def test_choice_lists_round_trip(choices: list[str]) -> None:
    """A list of non-empty texts is read as those choices, in order."""
    assert read_choices(choices, "f") == tuple(choices)


@FAST
@given(JSON)
def test_any_choices_value_is_choices_or_one_line(value: object) -> None:
    """A string of choices is refused, never split into letters."""
    result = one_line_or_value(lambda: read_choices(value, "field 'options'"))
    if result is not None:
        assert isinstance(value, (list, tuple))
        assert len(result) == len(value)


@FAST
@given(st.text())
def test_text_answers_round_trip(text: str) -> None:
    """An answer string is read as it is; null is the empty (unparseable) answer."""
    assert reply_text(text, "f") == text
    assert reply_text(None, "f") == ""


@FAST
@given(JSON)
def test_any_answer_is_text_or_one_line(value: object) -> None:
    """A list or mapping where an answer belongs is one line."""
    result = one_line_or_value(lambda: reply_text(value, "a.jsonl:1"))
    if result is not None:
        assert isinstance(result, str)


GENERATION = st.fixed_dictionaries(
    {
        "scorer": st.text(min_size=1, max_size=8),
        "references_field": st.text(min_size=1, max_size=8),
    },
    optional={
        "max_new_tokens": st.integers(1, 4096),
        "stop": st.lists(st.text(max_size=5), max_size=3),
        "strip_answer": st.booleans(),
    },
)


@FAST
@given(GENERATION)
def test_generation_sections_round_trip(section: dict[str, Any]) -> None:
    """A well-typed generation section is built with exactly its values (lists as tuples)."""
    values = check_field_values(GenerationSpec, section, "t.yaml: generation")
    built = GenerationSpec(**values)
    for key, value in section.items():
        assert getattr(built, key) == (tuple(value) if isinstance(value, list) else value)


@FAST
@given(st.dictionaries(st.sampled_from(["max_new_tokens", "stop", "strip_answer", "scorer"]), JSON))
def test_any_generation_values_are_typed_or_one_line(section: dict[str, Any]) -> None:
    """A string for `stop`, a float for `max_new_tokens`, a word for a boolean: one line."""
    result = one_line_or_value(lambda: check_field_values(GenerationSpec, section, "t.yaml"))
    if result is not None and "stop" in section:
        assert isinstance(result["stop"], tuple)
        assert not isinstance(section["stop"], str)


@FAST
@given(st.dictionaries(st.sampled_from(["group", "description", "tasks", "mean_of"]), JSON))
def test_any_group_yaml_is_a_group_or_one_line(data: dict[str, Any]) -> None:
    """`tasks: ethics_cm` (a string) is refused, never read as letters."""
    group = one_line_or_value(lambda: build_group_spec(data, "g.yaml"))
    if group is not None:
        assert list(group.tasks) == list(data["tasks"])


@FAST
@given(
    st.floats(0, 2, allow_nan=False),
    st.floats(0.01, 1, allow_nan=False),
    st.integers(1, 4096),
    st.booleans(),
)
def test_gen_kwargs_round_trip(temperature: float, top_p: float, tokens: int, sample: bool) -> None:
    """Written as `k=v,...`, the values are parsed back exactly."""
    text = f"temperature={temperature!r},top_p={top_p!r},max_new_tokens={tokens},do_sample={sample}"
    assert parse_gen_kwargs(text) == GenKwargs(temperature, top_p, tokens, sample)


@FAST
@given(st.text(max_size=40))
def test_any_gen_kwargs_text_is_settings_or_one_line(text: str) -> None:
    """Whatever is typed after --gen-kwargs: settings with finite values, or one line."""
    result = one_line_or_value(lambda: parse_gen_kwargs(text))
    if result is not None:
        assert all(math.isfinite(v) for v in result.given().values() if isinstance(v, float))


COLUMN = st.fixed_dictionaries(
    {"label": st.text(min_size=1, max_size=6), "metric": st.sampled_from(["acc", "f1"])}
) | st.dictionaries(st.sampled_from(["label", "metric", "task", "group", "x"]), JSON, max_size=4)


@FAST
@given(st.dictionaries(st.sampled_from(["name", "description", "columns", "sort_by"]), JSON))
def test_any_leaderboard_spec_is_a_spec_or_one_line(data: dict[str, Any]) -> None:
    """A spec YAML of any shape is a checked spec or one line naming the file and field."""
    spec = one_line_or_value(lambda: check_spec(Path("s.yaml"), data))
    if spec is not None:
        assert spec.columns


@FAST
@given(st.lists(st.sampled_from(["ethics_cm", "pope_random", "truthfulqa_mc2"]), min_size=1))
def test_leaderboard_specs_round_trip(tasks: list[str]) -> None:
    """A valid spec keeps each column's task, metric and label."""
    columns = [{"label": f"c{i}", "task": t, "metric": "acc"} for i, t in enumerate(tasks)]
    spec = check_spec(Path("s.yaml"), {"name": "n", "description": "d", "columns": columns})
    assert [(c.label, c.task, c.metric) for c in spec.columns] == [
        (c["label"], c["task"], c["metric"]) for c in columns
    ]


@FAST
@given(JSON)
def test_any_results_json_is_results_or_one_line(value: object) -> None:
    """results.json holding any JSON value: a RunResults or one line."""
    one_line_or_value(lambda: RunResults.from_json(json.dumps(value)))


@FAST
@given(st.binary(max_size=60))
def test_any_bytes_as_results_json_are_one_line(data: bytes) -> None:
    """Latin-1, UTF-16, cut files: one line naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        path.write_bytes(data)
        assert one_line_or_value(lambda: RunResults.from_json(path)) is None


@FAST
@given(st.binary(max_size=80))
def test_any_bytes_as_an_answers_file_are_lines_or_one_line(data: bytes) -> None:
    """An answers or data file of any bytes: JSON objects by line, or one line naming it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.jsonl"
        path.write_bytes(data)
        rows = one_line_or_value(lambda: read_json_lines(path))
        if rows is not None:
            assert all(isinstance(row, dict) for _, row in rows)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.5, True, "1.5", [1], None])
def test_named_bad_labels_are_one_line(value: object) -> None:
    """The issue's examples of labels (NaN among them) each give one line naming the field."""
    with pytest.raises(SbtError, match="field 'answer'"):
        read_label(value, "my_mc: item 1: field 'answer'")
