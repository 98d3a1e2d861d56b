"""One run configuration, built from `sbt-bench run`'s flags or from `evaluate()`'s keywords.

`RunSettings` is what the user asked for: declared types and ranges, frozen, checked in one
place, so the CLI and the Python API accept the same settings and refuse the same mistakes
with the same one-line error (naming the flag or the keyword). `prepare_run` turns it into
what the runner consumes: the models, the tasks of this run's catalog (user task folders
in an overlay scoped to the run) and a `RunConfig`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from sbt_bench.backends import BackendOptions, ModelSpec, parse_model_spec
from sbt_bench.backends.models import with_lora_procedure
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import GenKwargs, PromptSettings, parse_gen_kwargs
from sbt_bench.core.validation import one_line_error
from sbt_bench.evaluation.preflight import check_image_input
from sbt_bench.evaluation.runner import RunConfig, task_spec
from sbt_bench.evaluation.sharding import ProcessGroup, device_for
from sbt_bench.results.logging_sinks import check_sinks
from sbt_bench.tasks import GroupSpec, bundled_catalog
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.spec import CorruptionSpec
from sbt_bench.tasks.user_tasks import user_catalog

CLI_ONLY: Mapping[str, str] = {
    "help": "argparse's own",
    "compare": "prints a comparison of two models; in Python, pass the two returned "
    "results to sbt_bench.analysis (differences, pairing)",
    "leaderboard": "names the tasks and models of a shipped spec; in Python, read them with "
    "sbt_bench.analysis.leaderboard.load_leaderboard_spec and pass them to evaluate()",
    "push_to_hub": "uploads what the run wrote; in Python, pass the output folder's files "
    "(sbt_bench.results.hub_upload.folder_files) to push_files",
}
"""`run` flags without an `evaluate()` keyword, and why (the keyword test reads this)."""

CLI_DESTS: Mapping[str, str] = {"no_prefix_sharing": "prefix_sharing"}
"""`run` flags whose argparse name differs from the setting's (the flag negates it)."""

_FLAGS = {"prefix_sharing": "--no-prefix-sharing"}


def _names(value: Any) -> tuple[str, ...]:
    """Names as a comma-separated string or a list of strings; empty names are dropped."""
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(n, str) for n in value):
        names = list(value)
    else:
        raise ValueError(f"must be a comma-separated string or a list of names, got {value!r}")
    kept = tuple(n.strip() for n in names if n.strip())
    if not kept:
        raise ValueError(f"names nothing, got {value!r}; give names, e.g. a,b")
    return kept


def _path(value: Any) -> Path | None:
    """A folder; an empty string is no folder (`--data-dir ""` falls back as if not given)."""
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value) if value else None
    raise ValueError(f"must be a folder path (str or Path), got {value!r}")


def _paths(value: Any) -> tuple[Path, ...]:
    """A list of folders; one bare path is refused (it would be read letter by letter)."""
    if isinstance(value, list | tuple) and all(isinstance(p, str | Path) for p in value):
        return tuple(Path(p) for p in value)
    raise ValueError(f"must be a list of folders, got {value!r} (one folder: [{value!r}])")


def _limit(value: Any) -> int | float | None:
    """A positive item count, or a fraction strictly between 0 and 1 (NaN is neither)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, float) and 0 < value < 1:
        return value
    raise ValueError(
        f"must be a positive number of items or a fraction between 0 and 1, got {value!r}"
    )


def _device(value: str) -> str:
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"{value!r} is not a device sbt-bench runs on; use cpu, cuda or cuda:N")
    return value


def parse_corruptions(text: str) -> CorruptionSpec:
    """`names[:severities]`, e.g. `fog,snow:1,3` or `all:2` (ValueError names what is wrong)."""
    names, _, severities = text.partition(":")
    try:
        levels = tuple(int(s) for s in severities.split(",")) if severities else (1, 3, 5)
    except ValueError:
        raise ValueError(f"severities are integers 1-5, e.g. fog:1,3, got {text!r}") from None
    if not all(1 <= level <= 5 for level in levels):  # noqa: PLR2004 - ImageNet-C's range
        raise ValueError(f"severities must be 1 to 5, got {text!r}")
    return CorruptionSpec(names=_names(names), severities=levels)


def _corruptions(value: Any) -> CorruptionSpec | None:
    if value is None or isinstance(value, CorruptionSpec):
        return value
    if isinstance(value, str):
        return parse_corruptions(value)
    raise ValueError(f"must be a string such as 'fog,snow:1,3' or 'all', got {value!r}")


def _gen_kwargs(value: Any) -> GenKwargs:
    if isinstance(value, GenKwargs):
        return value
    if value is not None and not isinstance(value, str | Mapping):
        raise ValueError(f"must be 'k=v,...' or a mapping, got {value!r}")
    try:
        return parse_gen_kwargs(dict(value) if isinstance(value, Mapping) else value, "")
    except SbtError as err:  # its message starts with the (here empty) source
        raise ValueError(str(err).removeprefix(": ")) from None


def _optional_names(value: Any) -> tuple[str, ...]:
    """Names as `_names` takes them, where none at all is allowed too."""
    return () if value in ((), [], "") else _names(value)


def _sinks(value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return check_sinks(value)
    except SbtError as err:
        raise ValueError(str(err).removeprefix("--log ")) from None


def _judge(value: str | None) -> str | None:
    if value is not None:
        parse_model_spec(value)  # a bad judge spec stops the run before any model work
    return value


Names = Annotated[tuple[str, ...], BeforeValidator(_names)]
Folder = Annotated[Path | None, BeforeValidator(_path)]
Count = Annotated[StrictInt, Field(ge=1)]


class RunSettings(BaseModel):
    """Every setting of one run: `sbt-bench run`'s flags, `evaluate()`'s keywords."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    models: Names
    """Model specs: alias, `hf:<dir|.gguf|hub id>`, `llava:...`, `openai:<model>`, a YAML."""
    tasks: Names
    """Task and group names."""
    limit: Annotated[int | float | None, BeforeValidator(_limit)] = None
    """The first N items of each task, or a fraction (0 < limit < 1), rounded up."""
    data_dir: Folder = None
    """Local data folder; None reads `$SBT_DATA_DIR`, else the hub."""
    output_dir: Folder = None
    """Where results go; None (the API only): a temporary folder, removed afterwards."""
    overwrite: StrictBool = False
    """Replace a model's results that hold another model identity under its name."""
    include_path: Annotated[tuple[Path, ...], BeforeValidator(_paths)] = ()
    """Folders of user task YAMLs, seen by this run only."""
    device: Annotated[StrictStr, AfterValidator(_device)] = "cpu"
    dtype: Literal["auto", "float32", "bfloat16", "float16", "float64"] = "auto"
    batch_size: Count | None = 8
    """Sequences per forward pass; None: the largest that fits (`auto`)."""
    max_batch_tokens: Count | None = None
    """Tokens per packed forward pass in prefix-shared scoring; None: the backend's choice."""
    prefix_sharing: StrictBool = True
    """Encode a shared prompt prefix once (False: each (context, choice) alone, as lm-eval)."""
    seed: Annotated[StrictInt, Field(ge=0, le=2**32 - 1)] = 0
    """Seeds Python, NumPy and torch, and the letter protocol's option order."""
    parser: Literal["default", "official"] = "default"
    judge: Annotated[StrictStr | None, AfterValidator(_judge)] = None
    """Model spec of the LLM judge of judged tasks (gavie)."""
    skip_missing_images: StrictBool = False
    corruptions: Annotated[CorruptionSpec | None, BeforeValidator(_corruptions)] = None
    """Corrupted-image tasks' corruptions and severities: `fog,snow:1,3`; None: the task's."""
    apply_chat_template: StrictBool | None = None
    system_instruction: StrictStr | None = None
    fewshot_as_multiturn: StrictBool | None = None
    num_fewshot: Annotated[StrictInt, Field(ge=0)] | None = None
    think: StrictBool | None = None
    """The chat template's thinking switch (`--think on|off`); None: the template's default."""
    gen_kwargs: Annotated[GenKwargs, BeforeValidator(_gen_kwargs)] = GenKwargs()
    """`temperature`, `top_p`, `max_new_tokens`, `do_sample`: `k=v,...` or a mapping."""
    predict_only: StrictBool = False
    """Answers and samples files only; `sbt-bench score` scores them."""
    log: Annotated[tuple[str, ...], BeforeValidator(_optional_names), AfterValidator(_sinks)] = ()
    """Logging sinks each model's results go to: wandb, tensorboard."""
    offline: StrictBool | None = None
    """Use only local copies of hub files; None: online unless the hub is unreachable."""
    no_wait: StrictBool = False
    """Fail at once, naming the holder, when another process holds the response cache."""
    lora_procedure: Literal["as-trained", "paper-harness"] | None = None
    """How LLaVA-layout LoRA folders are applied; None: each model's own (`as-trained`)."""

    @classmethod
    def from_keywords(cls, **keywords: Any) -> RunSettings:
        """Settings from `evaluate()`'s keywords; a bad one is one line naming the keyword."""
        try:
            return cls(**keywords)
        except ValidationError as err:
            raise one_line_error(err, lambda f: f"evaluate({f}=...)", cls.model_fields) from None

    @classmethod
    def from_cli(
        cls,
        args: argparse.Namespace,
        default_tasks: Sequence[str] | None = None,
        default_models: Sequence[str] | None = None,
    ) -> RunSettings:
        """Settings from `run`'s parsed flags; a bad one is one line naming the flag.

        `default_tasks` stand in for `--tasks` when it is not given (a `--compare` or
        `--leaderboard` spec's); `default_models` for `--models` (a leaderboard's `models:`).
        """
        if args.tasks is None and default_tasks is None:
            raise SbtError("give --tasks (or --compare/--leaderboard SPEC, which names its tasks)")
        if args.models is None and default_models is None:
            raise SbtError("give --models (or --leaderboard SPEC whose spec lists models:)")
        values = {k: v for k, v in vars(args).items() if k in cls.model_fields}
        values |= {
            "tasks": default_tasks if args.tasks is None else _cli_names(args.tasks, "--tasks"),
            "models": (
                tuple(default_models or ())
                if args.models is None
                else _cli_names(args.models, "--models")
            ),
            "limit": parse_limit(args.limit),
            "think": None if args.think is None else args.think == "on",
            "batch_size": parse_batch_size(args.batch_size),
            "prefix_sharing": not args.no_prefix_sharing,
            "include_path": tuple(args.include_path or ()),
            "corruptions": _cli_corruptions(args.corruptions),
            "log": () if args.log is None else check_sinks(_cli_names(args.log, "--log")),
        }
        try:
            return cls(**values)
        except ValidationError as err:
            raise one_line_error(err, flag_of, cls.model_fields) from None

    def prompt_settings(self) -> PromptSettings:
        """The prompt settings given (None where not given: a model YAML's or lm-eval's)."""
        return PromptSettings(
            apply_chat_template=self.apply_chat_template,
            system_instruction=self.system_instruction,
            fewshot_as_multiturn=self.fewshot_as_multiturn,
            num_fewshot=self.num_fewshot,
            gen_kwargs=self.gen_kwargs,
            think=self.think,
        )


class RunOptions(TypedDict, total=False):
    """`evaluate()`'s keywords beside models and tasks: `RunSettings`'s fields, typed."""

    limit: int | float | None
    data_dir: str | Path | None
    output_dir: str | Path | None
    overwrite: bool
    include_path: Sequence[str | Path]
    device: str
    dtype: Literal["auto", "float32", "bfloat16", "float16", "float64"]
    batch_size: int | None
    max_batch_tokens: int | None
    prefix_sharing: bool
    seed: int
    parser: Literal["default", "official"]
    judge: str | None
    skip_missing_images: bool
    corruptions: str | CorruptionSpec | None
    apply_chat_template: bool | None
    system_instruction: str | None
    fewshot_as_multiturn: bool | None
    num_fewshot: int | None
    think: bool | None
    gen_kwargs: str | Mapping[str, Any] | None
    predict_only: bool
    log: str | Sequence[str]
    offline: bool | None
    no_wait: bool
    lora_procedure: Literal["as-trained", "paper-harness"] | None


@dataclass(frozen=True)
class PreparedRun:
    """A checked run: the models, the tasks (and groups) named, and the runner's config."""

    models: tuple[ModelSpec, ...]
    task_names: tuple[str, ...]
    groups: tuple[GroupSpec, ...]
    config: RunConfig
    sinks: tuple[str, ...]


def prepare_run(
    settings: RunSettings, output_dir: Path, group: ProcessGroup | None = None
) -> PreparedRun:
    """Resolve names, folders and models, and check the whole run before any model work.

    Every model is checked against every task (a text-only model on an image task is
    refused) before the first one runs.
    """
    group = group or ProcessGroup()
    catalog = user_catalog([str(p) for p in settings.include_path], bundled_catalog())
    task_names, groups = catalog.expand(settings.tasks)
    models = tuple(parse_model_spec(m) for m in settings.models)
    if settings.lora_procedure is not None:  # the run's choice wins over each model YAML's
        models = tuple(with_lora_procedure(m, settings.lora_procedure) for m in models)
    config = RunConfig(
        output_dir=output_dir,
        options=BackendOptions(
            device=device_for(group, settings.device),
            dtype=settings.dtype,
            batch_size=settings.batch_size,
            max_batch_tokens=settings.max_batch_tokens,
            prefix_sharing=settings.prefix_sharing,
            offline=settings.offline,
        ),
        limit=settings.limit,
        data_dir=resolve_data_dir(None if settings.data_dir is None else str(settings.data_dir)),
        seed=settings.seed,
        group=group,
        parser=settings.parser,
        skip_missing_images=settings.skip_missing_images,
        corruption=settings.corruptions,
        judge=settings.judge,
        overwrite=settings.overwrite,
        prompt=settings.prompt_settings(),
        predict_only=settings.predict_only,
        catalog=catalog,
        no_wait=settings.no_wait,
    )
    for spec in models:  # the last model's refusal must not come after the first one's run
        check_image_input(spec, [task_spec(name, config) for name in task_names])
    return PreparedRun(models, tuple(task_names), tuple(groups), config, settings.log)


def flag_of(field: str) -> str:
    """The `run` flag that sets a field (`max_batch_tokens` -> `--max-batch-tokens`)."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def parse_limit(text: str | None) -> int | float | None:
    """`--limit`: a positive item count, or a fraction between 0 and 1.

    Example:
        >>> parse_limit("10"), parse_limit("0.25"), parse_limit(None)
        (10, 0.25, None)
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value >= 1 and value.is_integer():
        return int(value)
    if 0 < value < 1:
        return value
    raise SbtError(
        f"--limit must be a positive number of items or a fraction between 0 and 1, got {text!r}"
    )


def parse_batch_size(text: str) -> int | None:
    """A positive integer, or None for `auto`."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise SbtError(f"--batch-size must be a positive integer or 'auto', got {text!r}")
    return int(text)


def _cli_names(text: str, flag: str) -> tuple[str, ...]:
    """Comma-separated names of a flag; an empty list is refused."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise SbtError(
            f"{flag} {text!r} names nothing; give comma-separated names, e.g. {flag} a,b"
        )
    return items


def _cli_corruptions(text: str | None) -> CorruptionSpec | None:
    if text is None:
        return None
    try:
        return parse_corruptions(text)
    except ValueError as err:
        raise SbtError(f"--corruptions {text!r}: {err}") from None


__all__ = [
    "CLI_DESTS",
    "CLI_ONLY",
    "PreparedRun",
    "RunOptions",
    "RunSettings",
    "flag_of",
    "prepare_run",
]
