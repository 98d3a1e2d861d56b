"""The results.json schema: one frozen, typed record per section, read and written here only.

    results.json = RunResults
        schema_version, model (ModelIdentity), config (RecordedConfig), versions,
        tasks: {name: TaskResult}, groups: {name: GroupResult}, created_at, timing, updated_at

Field names are the file's keys (a task's `spec_hash` is written `hash`), so every
results.json written since schema 1 loads unchanged. A file of a newer schema is refused
in one line: its keys may mean something this version does not know.

What is written: a `TaskResult` writes its always-present keys, and the keys only some
tasks have (`_OPTIONAL`) only when they hold something, as results.json always has; the
other records write exactly the keys they were given (a `score` run's model has a name
and a backend, a `run`'s has the whole model spec).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic import model_serializer as _model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from sbt_bench.backends.image_payload import ImagesSent
from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.files import write_atomic
from sbt_bench.core.types import HubRevision
from sbt_bench.core.validation import one_line_error
from sbt_bench.results.usage import Price, Usage

SCHEMA_VERSION = 1

Number = float | None
"""A metric or error bar; null (None) where it is undefined (a stderr of one item)."""


class Record(BaseModel):
    """A frozen section of results.json that writes exactly the keys it was given.

    Unknown keys are kept (and written back), so a field added later in schema 1 never
    breaks an older reader merging into the same file.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    @_model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if self._keeps(key, data)}

    def _keeps(self, key: str, _data: Mapping[str, Any]) -> bool:
        return _field_name(type(self), key) in self.model_fields_set

    @property
    def document(self) -> dict[str, Any]:
        """The record as JSON values, keyed as in the file (undefined numbers as None)."""
        value: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return value

    def to_json(self, path: Path | None = None) -> str:
        """The record's JSON text (NaN written as null); written atomically to `path` if given."""
        text = json.dumps(self.document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if path is not None:
            write_atomic(path, text)
        return text


def _field_name(cls: type[BaseModel], key: str) -> str:
    """The attribute a JSON key is stored under (`hash` -> `spec_hash`)."""
    for name, field in cls.model_fields.items():
        if key in (field.alias, field.serialization_alias):
            return name
    return key


class ItemFailure(Record):
    """An item left unscored because a request for it failed for good."""

    sample_id: str
    error: str


class SamplesFile(Record):
    """The samples file a task's entry names, with its line count and checksum."""

    file: str
    lines: int
    sha256: str


_BILLED = ("usage", "cost_usd", "price")
"""Keys of a billed record (`usage_entry`): `cost_usd` and `price` go with `usage`."""


class JudgeRecord(Record):
    """The LLM judge of a judged task (GAVIE) and what judging cost."""

    model: str
    n_judged: int
    usage: Usage | None = None
    cost_usd: float | None = None
    price: Price | None = None

    def _keeps(self, key: str, data: Mapping[str, Any]) -> bool:
        return self.usage is not None if key in _BILLED else super()._keeps(key, data)


class TaskResult(Record):
    """One task's entry in results.json: its numbers and what they were computed from."""

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {
            "n_clusters", "breakdown", "notes", "parser", "prompt", "n_missing_images",
            "missing_images", "data_revision", "protocol", "protocol_counts", "shuffle_seed",
            "images", "judge", "predict_only", "samples", "directions", "ci_method",
            "breakdown_ci95", "breakdown_stderr", "breakdown_ci_method",
        }
    )  # fmt: skip

    version: str | None = None
    spec_hash: str | None = Field(
        default=None,
        validation_alias=AliasChoices("hash", "spec_hash"),
        serialization_alias="hash",
    )
    """The task definition's hash (with the prompt settings), written `hash`."""
    n_samples: int | None = None
    n_available: int | None = None
    limit: int | float | None = None
    metrics: dict[str, Number]
    directions: dict[str, bool | None] = Field(default_factory=dict)
    """Each metric's `higher_is_better` in the run that wrote it (a user task's metric is
    declared only in its run): readers sort and mark by it. Absent in older files."""
    stderr: dict[str, Number] = Field(default_factory=dict)
    ci95: dict[str, tuple[Number, Number]] = Field(default_factory=dict)
    stderr_method: dict[str, str] = Field(default_factory=dict)
    ci_method: dict[str, str] = Field(default_factory=dict)
    """How each 95% interval was found (`metrics.intervals.Estimate.interval`)."""
    data_source: str | None = None
    n_requests: int | None = None
    n_failed: int = 0
    failed_items: tuple[ItemFailure, ...] = ()
    """The first 100 failed items (`n_failed` counts them all)."""
    n_clusters: int | None = None
    breakdown: dict[str, dict[str, Number]] = Field(default_factory=dict)
    breakdown_ci95: dict[str, dict[str, tuple[Number, Number]]] = Field(default_factory=dict)
    """Per breakdown part and metric, its 95% CI (`tasks.breakdown_bars`)."""
    breakdown_stderr: dict[str, dict[str, Number]] = Field(default_factory=dict)
    breakdown_ci_method: dict[str, dict[str, str]] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    """Why a metric or an error bar is missing, so an absent number is never read as 0."""
    parser: str | None = None
    prompt: dict[str, Any] = Field(default_factory=dict)
    """The prompt settings applied (`Prompter.record`), hashed into `hash`."""
    n_missing_images: int | None = None
    missing_images: tuple[str, ...] = ()
    data_revision: HubRevision | None = None
    protocol: str | None = None
    protocol_counts: dict[str, int] = Field(default_factory=dict)
    shuffle_seed: int | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    price: Price | None = None
    images: ImagesSent | None = None
    judge: JudgeRecord | None = None
    predict_only: bool = False
    samples: SamplesFile | None = None

    def _keeps(self, key: str, data: Mapping[str, Any]) -> bool:
        if key in self._OPTIONAL:
            return not _is_empty(data[key])
        if key in _BILLED:
            return self.usage is not None
        return True  # always written (null where a hand-made file lacks it)


def _is_empty(value: Any) -> bool:
    """None, False or an empty container (0 is a value: a shuffle seed of 0 is written)."""
    if value is None or value is False:
        return True
    return isinstance(value, dict | list | tuple) and not value


class GroupResult(Record):
    """A group's means over its member tasks (both weightings, each labelled)."""

    tasks: tuple[str, ...] = ()
    metrics: dict[str, Number]
    stderr: dict[str, Number] = Field(default_factory=dict)
    ci95: dict[str, tuple[Number, Number]] = Field(default_factory=dict)
    ci_method: dict[str, str] = Field(default_factory=dict)
    weighting: dict[str, str] = Field(default_factory=dict)


class ModelIdentity(Record):
    """Which model produced the numbers: its spec, the run's dtype/device, its fingerprint.

    Two results of one name pair only when their fingerprints agree.
    """

    name: str
    backend: str | None = None
    path: str | None = None
    gguf_file: str | None = None
    adapter: str | None = None
    revision: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    trust_remote_code: bool | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    timeout: int | float | None = None
    max_retries: int | None = None
    prompt_format: str | None = None
    mc_protocol: str | None = None
    price_prompt_per_1m: float | None = None
    price_completion_per_1m: float | None = None
    image_detail: str | None = None
    image_max_size: int | None = None
    prompt: dict[str, Any] | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    lora_procedure: str | None = None
    """How a LLaVA-layout LoRA was applied: `as-trained` or `paper-harness`."""
    vision_tower: str | None = None
    """The local CLIP folder standing in for an original-LLaVA checkpoint's mm_vision_tower."""
    # Loading and engine settings (device_map, load_in, attn_implementation, vLLM's keys).
    engine: dict[str, Any] | None = None
    fingerprint: str | None = None
    device: str | None = None


class RecordedConfig(Record):
    """The settings of the run that last wrote the file (`config`)."""

    limit: int | float | None = None
    seed: int | None = None
    data_dir: str | None = None
    parser: str | None = None


class CacheHealth(Record):
    """What the response cache dropped or could not verify (`timing.cache`)."""

    corrupt_rows_dropped: int = 0
    unverified_legacy_rows: int = 0
    moved_aside: str | None = None


class Timing(Record):
    """How long the last run took and how much of it the cache answered."""

    seconds: float
    requests: int
    cached: int
    tokens_processed: int | None = None
    processes: int | None = None
    cache: CacheHealth | None = None


class RunResults(Record):
    """One model's results.json: every task it has numbers for, and its group means.

    `path` is where the file was read from or written to (never written into it).
    """

    schema_version: int = SCHEMA_VERSION
    model: ModelIdentity
    config: RecordedConfig = Field(default_factory=RecordedConfig)
    versions: dict[str, str] = Field(default_factory=dict)
    tasks: dict[str, TaskResult] = Field(default_factory=dict)
    groups: dict[str, GroupResult] = Field(default_factory=dict)
    created_at: str | None = None
    timing: Timing | None = None
    updated_at: str | None = None
    notes: dict[str, str] = Field(default_factory=dict)
    """Why something left the file (`groups.<name>`: a group mean whose member is gone)."""
    path: Path | None = Field(default=None, exclude=True)

    def _keeps(self, key: str, data: Mapping[str, Any]) -> bool:
        if key in ("timing", "updated_at"):
            return data[key] is not None
        if key == "notes":
            return bool(data[key])
        return True

    @classmethod
    def from_json(cls, source: str | Path) -> RunResults:
        """A results.json file (a `Path`) or its text (a `str`), checked against the schema.

        Raises:
            SbtError: unreadable, not a results.json, of a newer schema (upgrade sbt-bench),
                or a field of the wrong type (named, with the fix).
        """
        where = str(source) if isinstance(source, Path) else "results.json text"
        try:
            text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
            data = json.loads(text)
        except UnicodeDecodeError as err:
            raise SbtError(
                f"{where}: not UTF-8 (byte {err.object[err.start : err.start + 1]!r} at offset "
                f"{err.start}; saved by an editor in another encoding?); re-save it as UTF-8 "
                "or rerun to rewrite it"
            ) from None
        except (OSError, ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
            raise SbtError(f"{where}: not a readable results.json ({first_line(err)})") from None
        return cls.from_document(data, where, path=source if isinstance(source, Path) else None)

    @classmethod
    def from_document(
        cls, data: Any, where: str = "results.json", *, path: Path | None = None
    ) -> RunResults:
        """A parsed results.json value, checked; `where` names it in errors."""
        check_schema_version(data, where)
        check_numbers(data, where)
        try:
            return cls.model_validate({**data, "path": path})
        except ValidationError as err:
            line = one_line_error(err, lambda field: f"{where}: field {field}")
            raise SbtError(f"{line}; rerun to rewrite the file") from None


def check_schema_version(data: Any, where: str) -> None:
    """Refuse anything but a results.json of a schema this version reads."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise SbtError(
            f"{where}: written by a newer sbt-bench (results schema {version}; this one reads "
            f"up to {SCHEMA_VERSION}); upgrade sbt-bench: pip install -U sbt-bench"
        )
    if version != SCHEMA_VERSION:
        raise SbtError(f"{where}: not an sbt-bench results.json of schema {SCHEMA_VERSION}")


def check_numbers(data: Mapping[str, Any], where: str) -> None:
    """Every metric and stderr is a number or null: a table must never show a string."""
    for section in ("tasks", "groups"):
        entries = data.get(section, {})
        if not isinstance(entries, dict):
            raise SbtError(f"{where}: {section!r} is not a mapping; rerun to rewrite the file")
        for name, entry in entries.items():
            for field_name in ("metrics", "stderr"):
                values = entry.get(field_name, {}) if isinstance(entry, dict) else None
                if not isinstance(values, dict):
                    raise SbtError(
                        f"{where}: {section}.{name}.{field_name} is not a mapping; "
                        f"rerun {name} to rewrite it"
                    )
                for metric, value in values.items():
                    if value is not None and (
                        isinstance(value, bool) or not isinstance(value, (int, float))
                    ):
                        raise SbtError(
                            f"{where}: {section}.{name}.{field_name}.{metric} is {value!r}, "
                            f"not a number; rerun {name} to rewrite it"
                        )
