"""Task and group specifications parsed from `tasks/**.yaml`, one dataclass field per YAML key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal

from sbt_bench.core.errors import SbtError
from sbt_bench.core.field_types import check_field_values

TaskKind = Literal["multiple_choice", "generation", "yes_no", "caption", "judged"]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's items come from.

    Attributes:
        split: the split (hub) the local file corresponds to.
        hub: Hugging Face dataset id, loaded when no data dir is given; None = local only.
        hub_config: the dataset configuration name on the hub.
        revision: the hub commit the task is pinned to (a full sha), so a hub-side edit
            cannot change the numbers; None = unpinned (results then record the commit
            the hub resolved).
        local_file: path of the file under `--data-dir`, laid out like ../shared/data.
        reader: registered reader that parses `local_file` into the hub's record fields.
        process: registered record processor applied after loading from either source.
    """

    split: str
    reader: str
    local_file: str
    hub: str | None = None
    hub_config: str | None = None
    revision: str | None = None
    process: str | None = None


@dataclass(frozen=True)
class ImageSpec:
    """Where an item's image is.

    `<data dir>/<folder>/<record[field]>` for the first folder (a template filled from the
    record) that holds it. An absolute path in the field (a hub image saved to the cache)
    is used as it is.
    """

    field: str
    folders: tuple[str, ...] = ("",)


@dataclass(frozen=True)
class CorruptionSpec:
    """Expand every item into one per (corruption, severity), plus the clean original.

    `names` may be `["all"]`: every corruption the corruption library offers.
    """

    names: tuple[str, ...] = ("all",)
    severities: tuple[int, ...] = (1, 3, 5)
    include_clean: bool = True


@dataclass(frozen=True)
class FewshotSpec:
    """A task's few-shot pool (`--num-fewshot N`): another split of the same dataset.

    Its records are read and processed like the task's own (`local_file` under
    `--data-dir`, else the hub split); examples are drawn as lm-eval draws them.
    """

    split: str
    local_file: str
    reader: str | None = None


@dataclass(frozen=True)
class MultipleChoiceSpec:
    """How a multiple-choice item's choices and gold answers are read (`multiple_choice:`).

    Continuations are `target_delimiter + choice`; `metrics` maps each reported metric to
    the registered choice scorer that computes it per item.
    """

    metrics: Mapping[str, str]
    choices: tuple[str, ...] = ()
    choices_field: str | None = None
    target_field: str | None = None
    target_labels_field: str | None = None
    target_delimiter: str = " "

    def __post_init__(self) -> None:
        if bool(self.choices) == bool(self.choices_field):
            raise ValueError("give exactly one of `choices` and `choices_field`")
        if (self.target_field is None) == (self.target_labels_field is None):
            raise ValueError("give exactly one of `target_field` and `target_labels_field`")
        if not self.metrics:
            raise ValueError("`metrics` must name at least one metric")


@dataclass(frozen=True)
class GenerationSpec:
    """How an answer is generated and scored (`generation:`).

    Each answer is scored by `scorer` (or `official_scorer` under `--parser official`,
    which reproduces the benchmark's own script) against the record's references.
    """

    scorer: str
    references_field: str
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    negatives_field: str | None = None
    official_scorer: str | None = None
    strip_answer: bool = True
    metrics: tuple[str, ...] = ()
    """What a user scorer (`module:function`) reports; registered scorers declare their own."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("`max_new_tokens` must be at least 1")


@dataclass(frozen=True)
class KindRule:
    """What a task kind requires: its section, and the aggregates that suit it (any if empty)."""

    section: str
    aggregates: tuple[str, ...] = ()
    scorers: tuple[str, ...] = ()


KIND_RULES: Mapping[str, KindRule] = {
    "multiple_choice": KindRule("multiple_choice"),
    "generation": KindRule("generation"),
    "yes_no": KindRule("generation", aggregates=("binary", "mme")),
    "caption": KindRule("generation", aggregates=("caption", "caption_corruptions")),
    "judged": KindRule("generation", scorers=("gavie_judge",)),
}
"""Task kinds; `sbt_bench.tasks.kinds` names the class that builds each."""


@dataclass(frozen=True)
class TaskSpec:
    """A declarative task: what every task has, and the section its kind needs.

    The context of an item is `preamble + preamble_separator + prompt.format(**record)`
    (just the prompt when there is no preamble); the preamble is what every item shares.
    The scored items become the task's metrics through `aggregate` (a mean unless it
    names another).
    """

    task: str
    version: str
    kind: TaskKind
    description: str
    dataset: DatasetSpec
    prompt: str
    preamble: str = ""
    preamble_separator: str = "\n\n"
    aggregate: str = "mean"
    image: ImageSpec | None = None
    corruption: CorruptionSpec | None = None
    subset_field: str | None = None
    pair_field: str | None = None
    cluster_by: str | None = None
    """Record field whose items are not independent (`image`: questions on one image);
    error bars resample these clusters. The image field means the image file itself."""
    multiple_choice: MultipleChoiceSpec | None = None
    generation: GenerationSpec | None = None
    fewshot: FewshotSpec | None = None

    def __post_init__(self) -> None:
        rule = KIND_RULES.get(self.kind)
        if rule is None:
            raise ValueError(f"`kind` must be one of {sorted(KIND_RULES)}, got {self.kind!r}")
        sections = {"multiple_choice": self.multiple_choice, "generation": self.generation}
        if sections[rule.section] is None:
            raise ValueError(f"a {self.kind} task needs a `{rule.section}:` section")
        extra = [name for name, value in sections.items() if value and name != rule.section]
        if extra:
            raise ValueError(f"a {self.kind} task takes no `{extra[0]}:` section")
        if rule.aggregates and self.aggregate not in rule.aggregates:
            raise ValueError(f"a {self.kind} task aggregates with one of {list(rule.aggregates)}")
        if rule.scorers and self.generation and self.generation.scorer not in rule.scorers:
            raise ValueError(f"a {self.kind} task is scored by one of {list(rule.scorers)}")

    @property
    def choice(self) -> MultipleChoiceSpec:
        """The multiple-choice section (only multiple-choice tasks are built with one)."""
        assert self.multiple_choice is not None, f"{self.task} is not a multiple-choice task"
        return self.multiple_choice

    @property
    def answer(self) -> GenerationSpec:
        """The generation section (every kind but multiple choice has one)."""
        assert self.generation is not None, f"{self.task} is not a generation task"
        return self.generation

    def spec_hash(self) -> str:
        """Short hash of every field, so results record exactly which definition produced them."""
        fields_ = asdict(self)
        # Keys added later are left out at their defaults: existing tasks keep their hashes.
        if fields_["fewshot"] is None:
            del fields_["fewshot"]
        if fields_["generation"] is not None and not fields_["generation"]["metrics"]:
            del fields_["generation"]["metrics"]
        # The hub commit is recorded per result (`data_revision`) and does not touch
        # `--data-dir` runs: keeping it out leaves every task's hash as it was.
        del fields_["dataset"]["revision"]
        blob = json.dumps(fields_, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class GroupSpec:
    """A named set of tasks run together; `mean_of` names the metric averaged over them."""

    group: str
    description: str
    tasks: tuple[str, ...]
    mean_of: str | None = None


SECTIONS: Mapping[str, type[Any]] = {
    "multiple_choice": MultipleChoiceSpec,
    "generation": GenerationSpec,
}


def build_task_spec(raw: Mapping[str, Any], source: str) -> TaskSpec:
    """Build a TaskSpec from merged YAML, rejecting unknown keys and mistyped values."""
    data = dict(raw)
    data["dataset"] = _build(DatasetSpec, _section(data, "dataset", source), f"{source}: dataset")
    for key, cls in SECTIONS.items():
        if key in data:
            data[key] = _build(cls, _section(data, key, source), f"{source}: {key}")
    if data.get("image") is not None:  # `image: null` takes an included image section away
        data["image"] = _build(ImageSpec, _section(data, "image", source), f"{source}: image")
    if data.get("corruption") is not None:
        section = _section(data, "corruption", source)
        data["corruption"] = _build(CorruptionSpec, section, f"{source}: corruption")
    if "fewshot" in data:
        data["fewshot"] = _build(
            FewshotSpec, _section(data, "fewshot", source), f"{source}: fewshot"
        )
    spec: TaskSpec = _build(TaskSpec, data, source)
    return spec


def _section(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    """A nested section, which must be a mapping (`generation: null` is not one)."""
    section = data.get(key, {})
    if not isinstance(section, Mapping):
        raise SbtError(
            f"{source}: field {key!r} is {section!r}, not a mapping of {key} settings; "
            f"write its keys indented under `{key}:`"
        )
    return section


def build_group_spec(raw: Mapping[str, Any], source: str) -> GroupSpec:
    """Build a GroupSpec from YAML, rejecting unknown keys and mistyped values."""
    group: GroupSpec = _build(GroupSpec, raw, source)
    return group


def _build(cls: type[Any], data: Mapping[str, Any], source: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        hint = "".join(
            f" ({key!r} belongs under `{name}:`)"
            for key in unknown
            for name, section in SECTIONS.items()
            if cls is TaskSpec and key in {f.name for f in fields(section)}
        )
        raise SbtError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}{hint}")
    missing = sorted(
        f.name
        for f in fields(cls)
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING
    )
    if missing:
        raise SbtError(f"{source}: missing key(s) {missing}")
    values = check_field_values(cls, data, source)
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise SbtError(f"{source}: {err}") from None
