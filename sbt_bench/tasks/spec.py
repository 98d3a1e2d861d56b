"""Task and group specifications parsed from `tasks/**.yaml`, one dataclass field per YAML key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from sbt_bench.errors import SbtError

TaskKind = Literal["multiple_choice", "generation"]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's items come from.

    Attributes:
        split: the split (hub) the local file corresponds to.
        hub: Hugging Face dataset id, loaded when no data dir is given; None = local only.
        hub_config: the dataset configuration name on the hub.
        local_file: path of the file under `--data-dir`, laid out like ../shared/data.
        reader: registered reader that parses `local_file` into the hub's record fields.
        process: registered record processor applied after loading from either source.
    """

    split: str
    reader: str
    local_file: str
    hub: str | None = None
    hub_config: str | None = None
    process: str | None = None


@dataclass(frozen=True)
class GenerationSpec:
    """Greedy decoding budget and stop strings of a generation task."""

    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()


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
class TaskSpec:
    """A declarative task.

    The context of an item is `preamble + preamble_separator + prompt.format(**record)`
    (just the prompt when there is no preamble); the preamble is what every item shares.
    Multiple-choice continuations are `target_delimiter + choice`.

    Generation items are scored by `scorer` one at a time (or `official_scorer` under
    `--parser official`, which reproduces the benchmark's own script), then the task's
    `aggregate` turns the scored items into its metrics (a mean unless it names another).
    """

    task: str
    version: str
    kind: TaskKind
    description: str
    dataset: DatasetSpec
    prompt: str
    preamble: str = ""
    preamble_separator: str = "\n\n"
    choices: tuple[str, ...] = ()
    choices_field: str | None = None
    target_field: str | None = None
    target_labels_field: str | None = None
    target_delimiter: str = " "
    metrics: Mapping[str, str] = field(default_factory=dict)
    scorer: str | None = None
    references_field: str | None = None
    negatives_field: str | None = None
    official_scorer: str | None = None
    aggregate: str = "mean"
    strip_answer: bool = True
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    image: ImageSpec | None = None
    corruption: CorruptionSpec | None = None
    subset_field: str | None = None
    pair_field: str | None = None
    cluster_by: str | None = None
    """Record field whose items are not independent (`image`: questions on one image);
    error bars resample these clusters. The image field means the image file itself."""

    def __post_init__(self) -> None:
        if self.kind == "multiple_choice":
            if bool(self.choices) == bool(self.choices_field):
                raise ValueError("give exactly one of `choices` and `choices_field`")
            if (self.target_field is None) == (self.target_labels_field is None):
                raise ValueError("give exactly one of `target_field` and `target_labels_field`")
            if not self.metrics:
                raise ValueError("a multiple_choice task needs `metrics`")
        elif self.scorer is None or self.references_field is None:
            raise ValueError("a generation task needs `scorer` and `references_field`")

    def spec_hash(self) -> str:
        """Short hash of every field, so results record exactly which definition produced them."""
        blob = json.dumps(asdict(self), sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class GroupSpec:
    """A named set of tasks run together; `mean_of` names the metric averaged over them."""

    group: str
    description: str
    tasks: tuple[str, ...]
    mean_of: str | None = None


def build_task_spec(raw: Mapping[str, Any], source: str) -> TaskSpec:
    """Build a TaskSpec from merged YAML, rejecting unknown keys with the file's name."""
    data = dict(raw)
    data["dataset"] = _build(DatasetSpec, data.get("dataset", {}), f"{source}: dataset")
    data["generation"] = _build(
        GenerationSpec,
        {k: tuple(v) if k == "stop" else v for k, v in data.get("generation", {}).items()},
        f"{source}: generation",
    )
    data["choices"] = tuple(data.get("choices", ()))
    if "image" in data:
        image = dict(data["image"])
        image["folders"] = tuple(image.get("folders", ("",)))
        data["image"] = _build(ImageSpec, image, f"{source}: image")
    if "corruption" in data:
        corruption = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data["corruption"].items()
        }
        data["corruption"] = _build(CorruptionSpec, corruption, f"{source}: corruption")
    spec: TaskSpec = _build(TaskSpec, data, source)
    return spec


def build_group_spec(raw: Mapping[str, Any], source: str) -> GroupSpec:
    """Build a GroupSpec from YAML, rejecting unknown keys with the file's name."""
    data = dict(raw)
    data["tasks"] = tuple(data.get("tasks", ()))
    group: GroupSpec = _build(GroupSpec, data, source)
    return group


def _build(cls: type[Any], data: Mapping[str, Any], source: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SbtError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise SbtError(f"{source}: {err}") from None
